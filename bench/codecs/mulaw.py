"""WaveNet-style mu-law sample quantization (van den Oord et al., 2016).

Companding ``F(x) = sign(x) ln(1 + mu|x|) / ln(1 + mu)`` with ``mu = 2**bits - 1``, then uniform
quantization of F(x) to ``2**bits`` levels: one token per sample.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bench.codecs.base import Codec, EncodeResult


@dataclasses.dataclass(frozen=True)
class MuLawConfig:
    bits: int = 8
    sample_rate: int = 16_000

    def __post_init__(self) -> None:
        if not 2 <= self.bits <= 16:
            raise ValueError(f"bits must be between 2 and 16, got {self.bits}")
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")


class MuLaw(Codec):
    Config = MuLawConfig

    @property
    def levels(self) -> int:
        return 2 ** self.config.bits

    @property
    def mu(self) -> float:
        return float(self.levels - 1)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        return float(self.config.sample_rate)

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        return (self.levels,)

    def compand(self, wave: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(wave, dtype=np.float64), -1.0, 1.0)
        return np.sign(x) * np.log1p(self.mu * np.abs(x)) / np.log1p(self.mu)

    def quantize(self, companded: np.ndarray) -> np.ndarray:
        """[-1, 1] -> {0, ..., levels - 1}, rounding to the nearest level."""
        return np.clip(np.round((companded + 1.0) / 2.0 * self.mu), 0, self.mu).astype(np.int64)

    def encode(self, wave: np.ndarray) -> EncodeResult:
        return EncodeResult(tokens=self.quantize(self.compand(wave))[None, :])

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        companded = np.asarray(tokens[0], dtype=np.float64) / self.mu * 2.0 - 1.0
        x = np.sign(companded) * np.expm1(np.abs(companded) * np.log1p(self.mu)) / self.mu
        return x.astype(np.float32)
