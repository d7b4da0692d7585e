"""The model's shape: a plain dataclass with no torch import, so codec facts (frame rate,
vocabulary sizes) can be declared without loading anything."""

from __future__ import annotations

import dataclasses
import math
from typing import Any


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Shape of the autoencoder and its quantizer.

    Two variants share the quantizer and the stage structure (model.py):

    - spectral (the default, ``spectral_hop > 0``): the outermost stage is a fixed STFT with
      hop ``spectral_hop`` = 80 samples (200 frames/s), then the strides (4) take it to
      80 * 4 = 320 samples, i.e. **50 frames per second** at 16 kHz; the decoder ends in the
      inverse STFT. ConvNeXt blocks.
    - convolutional (``spectral_hop = 0``): EnCodec's all-waveform design, strides
      2 * 4 * 5 * 8 = 320 samples (EnCodec uses the same strides at 24 kHz for 75 Hz), with
      EnCodec's residual units. It was the shipped model of codec versions 1 and 2.

    The hop (samples per token frame) is the product of the strides, times ``spectral_hop``
    when it is set.
    """

    sample_rate: int = 16_000
    channels: int = 128  # width of the first stage; doubles after each downsampling stage
    strides: tuple[int, ...] = (4,)
    latent_dim: int = 64
    res_dilations: tuple[int, ...] = (1, 3, 9)  # one block per dilation in every stage
    n_q: int = 8  # RVQ levels
    #: > 0: the spectral variant: the first stage is an STFT with this hop (window four hops)
    #: and the decoder ends in the inverse STFT; 0: the all-convolutional waveform model.
    spectral_hop: int = 80
    block: str = "convnext"  # "convnext" (ConvNeXt, as in Vocos) or "residual" (EnCodec's unit)
    codebook_size: int = 1024

    def __post_init__(self) -> None:
        if self.n_q < 1 or self.codebook_size < 2:
            raise ValueError("n_q must be >= 1 and codebook_size >= 2")
        if (not self.strides and not self.spectral_hop) or min(self.strides, default=1) < 1:
            raise ValueError("strides must be positive")
        if self.spectral_hop < 0 or self.block not in ("residual", "convnext"):
            raise ValueError("spectral_hop must be >= 0 and block 'residual' or 'convnext'")

    @property
    def hop(self) -> int:
        return int(math.prod(self.strides)) * max(1, self.spectral_hop)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    #: What a checkpoint written before a field existed meant by leaving it out.
    _BEFORE = {"channels": 16, "strides": (2, 4, 5, 8), "res_dilations": (1, 3),
               "spectral_hop": 0, "block": "residual"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        if "spectral_hop" not in d:  # codec versions 1-2: the convolutional model
            d = {**cls._BEFORE, **d}
        fields = {f.name for f in dataclasses.fields(cls)}
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields}
        return cls(**kw)
