"""16-bit PCM samples as tokens: the upper bound every table needs."""

from __future__ import annotations

import dataclasses

import numpy as np

from bench.codecs.base import Codec, EncodeResult


@dataclasses.dataclass(frozen=True)
class IdentityConfig:
    sample_rate: int = 16_000


class Identity(Codec):
    """One stream of 65,536 symbols per sample: the signal quantized to 16-bit PCM."""

    Config = IdentityConfig

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        return float(self.config.sample_rate)

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        return (65_536,)

    def encode(self, wave: np.ndarray) -> EncodeResult:
        pcm = np.clip(np.round(np.asarray(wave, dtype=np.float64) * 32768.0), -32768, 32767)
        tokens = (pcm.astype(np.int64) + 32768)[None, :]
        return EncodeResult(tokens=tokens, payload_bytes=2 * tokens.shape[1])

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        return ((np.asarray(tokens[0], dtype=np.float64) - 32768.0) / 32768.0).astype(np.float32)
