"""A pre-trained ear for the token probe (``probe:reader=whisper``).

The default token probe (``reader=scratch``) learns to hear from the probe's few hundred training
utterances alone; the audio ceiling it is read against (``probe-audio:features=whisper``) hears
through Whisper tiny.en, trained on 680,000 hours. This reader gives the tokens the same ear:

1. **Adapter** (no labels): a learned embedding per token (the token probe's slots and start),
   summed over streams, a width-3 convolution with GELU, then a transposed convolution that
   writes ``up`` samples per token step (kernel ``2 * up``, overlap-added) at 16 kHz. It is
   trained on the *training* split only, to make the tokens' audio: the loss is the mean
   squared difference between Whisper's log-mel (:func:`whisper_log_mel`, faster-whisper's
   front end re-written in torch) of its output and of the original, on random crops.
   It never sees the codec's decoder, a label or a test item.
2. **Ear**: the adapter's audio of every item, train and test, goes through faster-whisper's
   feature extractor and the Whisper tiny.en encoder (the ceiling's front end,
   :func:`~bench.tasks.learned_probe.whisper_frames`).
3. **Heads**: the probe's model and heads on those encoder states, exactly as the ceiling's.

For mu-law tokens the adapter has to learn one number per level, the level's sample value;
for tokens of a neural codec it is a one-layer decoder (a convolution, GELU, a transposed
convolution), far weaker than the codec's own. So this reader says what a model that already knows speech could read from the
tokens through a small learned interface; ``reader=scratch`` says what a model that knows
nothing beforehand learns from the probe's data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.audio import METRIC_SR

N_FFT, HOP, N_MELS = 400, 160, 80  # faster-whisper's front end (Whisper's)
FRAME_SAMPLES = 320  # samples per 20 ms frame at 16 kHz


def samples_per_step(rate: float) -> int:
    """Samples the adapter writes per token step: the largest divisor of 320 (so that whole
    frames stay whole) that is at most 1.05 x 16,000 / ``rate``. The steps then come at least
    as often as the tokens, so no token is skipped (a token may fill two steps); the 5% allow
    for a measured rate a little above the codec's frame rate (its last frame padded: 50.3
    tokens/s for a 50 Hz codec on a 2 s item), which skips at most that last token."""
    want = METRIC_SR / max(rate, 1e-9)
    divisors = [d for d in range(1, FRAME_SAMPLES + 1) if FRAME_SAMPLES % d == 0]
    return max([d for d in divisors if d <= want * 1.05], default=1)


def _mel_filters():
    import torch
    from faster_whisper.feature_extractor import FeatureExtractor

    return torch.from_numpy(FeatureExtractor.get_mel_filters(METRIC_SR, N_FFT, n_mels=N_MELS).astype(np.float32))


def whisper_log_mel(wave, filters):
    """``[B, 80, frames]``: faster-whisper's log-mel of ``wave`` ``[B, L]`` (160 zeros appended,
    centred reflect-padded STFT of 400 with a periodic Hann window and hop 160, the last frame
    dropped, mel filters, log10 floored at 1e-10, then at the item's maximum - 8, then
    ``(x + 4) / 4``). Differentiable; the maximum is per item, so items are cut, never padded."""
    import torch

    x = torch.nn.functional.pad(wave, (0, HOP))
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, pad_mode="reflect",
                      return_complex=True)
    power = spec[..., :-1].abs() ** 2
    logm = torch.log10((filters @ power).clamp(min=1e-10))
    top = logm.amax(dim=(1, 2), keepdim=True)
    return (torch.maximum(logm, top.detach() - 8.0) + 4.0) / 4.0


def _ear_net(n_slots: int, embed: int, width: int, up: int):
    import torch
    from torch import nn

    class Ear(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(n_slots, embed)
            self.ctx = nn.Conv1d(embed, width, 3, padding=1)
            self.out = nn.ConvTranspose1d(width, 1, 2 * up if up > 1 else 1, stride=up)

        def forward(self, slots):  # [B, K, L] -> [B, L * up]
            h = torch.nn.functional.gelu(self.ctx(self.emb(slots).sum(1).transpose(1, 2)))
            y = self.out(h)[:, 0]
            off = up // 2 if up > 1 else 0
            return y[:, off: off + slots.shape[2] * up]

    return Ear()


def train_ear(seqs: list[np.ndarray], waves: list[np.ndarray], up: int, cfg: Any, seed: Any,
              start: tuple[np.ndarray, np.ndarray] | None = None):
    """The adapter, trained on (slots ``[K, L]``, original waveform of ``L * up`` samples) pairs."""
    import torch

    from bench.tasks.learned_probe import optimizer, start_embedding

    rng = np.random.default_rng(seed)
    torch.manual_seed(int(rng.integers(2**31)))
    model = _ear_net(2 * cfg.table, cfg.embed, cfg.ear_width, up)
    if start is not None:
        start_embedding(model.emb, start)
    filters = _mel_filters()
    step = optimizer(model, cfg.ear_lr, cfg.weight_decay, cfg.ear_steps, cfg.clip)
    crop = max(1, int(round(cfg.ear_crop_s * METRIC_SR / FRAME_SAMPLES))) * FRAME_SAMPLES // up  # token steps
    model.train()
    for _ in range(cfg.ear_steps):
        idx = rng.choice(len(seqs), size=min(cfg.batch, len(seqs)), replace=False)
        L = min(crop, min(seqs[i].shape[1] for i in idx))
        x = np.zeros((len(idx), seqs[idx[0]].shape[0], L), dtype=np.int64)
        y = np.zeros((len(idx), L * up), dtype=np.float32)
        for b, i in enumerate(idx):
            a = int(rng.integers(seqs[i].shape[1] - L + 1))
            x[b] = seqs[i][:, a: a + L]
            y[b] = waves[i][a * up: (a + L) * up]
        pred = model(torch.from_numpy(x))
        with torch.no_grad():
            target = whisper_log_mel(torch.from_numpy(y), filters)
        step(((whisper_log_mel(pred, filters) - target) ** 2).mean())
    model.eval()
    return model


def ear_audio(model, seqs: list[np.ndarray]) -> list[np.ndarray]:
    """The adapter's waveform (float32, 16 kHz) of each slot sequence."""
    import torch

    with torch.no_grad():
        return [model(torch.from_numpy(s[None].astype(np.int64)))[0].numpy().astype(np.float32) for s in seqs]


def mel_error(audio: list[np.ndarray], waves: list[np.ndarray]) -> float:
    """Mean squared log-mel difference between the adapter's audio (:func:`ear_audio`) and the
    original, whole items, over the items given: how well the adapter learned the tokens' sound."""
    import torch

    filters = _mel_filters()
    errs = []
    with torch.no_grad():
        for a, w in zip(audio, waves):
            n = min(len(a), len(w))
            errs.append(float(((whisper_log_mel(torch.from_numpy(a[None, :n]), filters)
                                - whisper_log_mel(torch.from_numpy(w[None, :n].astype(np.float32)), filters)) ** 2).mean()))
    return float(np.mean(errs)) if errs else float("nan")
