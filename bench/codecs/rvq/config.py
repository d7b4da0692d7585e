"""The model's shape: a plain dataclass with no torch import, so codec facts (frame rate,
vocabulary sizes) can be declared without loading anything."""

from __future__ import annotations

import dataclasses
import math
from typing import Any


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Shape of the autoencoder and its quantizer.

    The hop (samples per token frame) is the product of the encoder strides:
    2 * 4 * 5 * 8 = 320 samples, i.e. 50 frames per second at 16 kHz (EnCodec uses the same
    strides at 24 kHz for 75 Hz).
    """

    sample_rate: int = 16_000
    channels: int = 16  # width of the first conv; doubles after each downsampling stage
    strides: tuple[int, ...] = (2, 4, 5, 8)
    latent_dim: int = 64
    res_dilations: tuple[int, ...] = (1, 3)  # residual units per stage (SoundStream uses 1, 3, 9)
    n_q: int = 8  # RVQ levels
    codebook_size: int = 1024

    def __post_init__(self) -> None:
        if self.n_q < 1 or self.codebook_size < 2:
            raise ValueError("n_q must be >= 1 and codebook_size >= 2")
        if not self.strides or min(self.strides) < 1:
            raise ValueError("strides must be positive")

    @property
    def hop(self) -> int:
        return int(math.prod(self.strides))

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields}
        return cls(**kw)
