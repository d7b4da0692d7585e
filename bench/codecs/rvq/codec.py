"""The bench adapter for our RVQ codec: one checkpoint, decoded at any depth 1..N.

Presets ``rvq-1q`` ... ``rvq-8q`` set ``n_q``: tokens are ``[n_q, T]`` at 50 frames per
second with ``log2(K)`` bits per level, so with K = 1024 each level adds 500 bit/s.
Quantizer dropout during training is what makes every prefix of the levels decodable.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from bench.codecs.base import Codec, CodecError, EncodeResult, require
from bench.codecs.rvq import checkpoint as ckpt
from bench.codecs.rvq.config import ModelConfig


@dataclasses.dataclass(frozen=True)
class RVQConfig:
    n_q: int = 8  # RVQ levels to use (1..N of the checkpoint)
    checkpoint: str = ""  # empty: the checkpoint shipped in bench/data/rvq/

    def __post_init__(self) -> None:
        if self.n_q < 1:
            raise ValueError(f"n_q must be >= 1, got {self.n_q}")


class RVQ(Codec):
    Config = RVQConfig
    #: 2: the latent norm in float64 (codes may differ from 1 at rounding level);
    #: 3: the spectral model (STFT front end, inverse-STFT decoder), a new checkpoint;
    #: 4: the same model fine-tuned on more voices (synth-speech-extra), a new checkpoint;
    #: 5: fine-tuned further on a larger supplement (step 50,000), a new checkpoint.
    version = "5"
    extra = "torch"
    supports_batch = True

    def __init__(self, config: Any = None, *, name: str | None = None):
        super().__init__(config, name=name)
        self._model: Any = None
        self._meta: dict[str, Any] | None | bool = False  # False: not read yet

    @classmethod
    def unavailable_reason(cls, options: dict[str, Any]) -> str | None:
        """Why this preset cannot run here (no checkpoint shipped), cheaply, without torch."""
        path = str(options.get("checkpoint") or "") or ckpt.SHIPPED_CHECKPOINT
        if ckpt.read_sidecar(path) is None or not os.path.isfile(path):
            return "no trained checkpoint shipped yet (see `bench train rvq --help`)"
        return None

    # -- facts (from the sidecar JSON: no torch needed) --------------------------------------
    @property
    def checkpoint_path(self) -> str:
        return self.config.checkpoint or ckpt.SHIPPED_CHECKPOINT

    @property
    def meta(self) -> dict[str, Any] | None:
        if self._meta is False:
            self._meta = ckpt.read_sidecar(self.checkpoint_path)
        return self._meta  # type: ignore[return-value]

    @property
    def model_config(self) -> ModelConfig:
        meta = self.meta
        return ModelConfig.from_dict(meta["model_config"]) if meta else ModelConfig()

    @property
    def sample_rate(self) -> int:
        return self.model_config.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.model_config.frame_rate

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        return (self.model_config.codebook_size,) * self.config.n_q

    def weights_hash(self) -> str | None:
        meta = self.meta
        return meta["sha256"] if meta else None

    # -- verbs --------------------------------------------------------------------------------
    def _load(self) -> None:
        torch = require("torch", "torch")
        if self.config.n_q > self.model_config.n_q:
            raise CodecError(f"n_q={self.config.n_q} but the checkpoint has "
                             f"{self.model_config.n_q} levels")
        self._model = ckpt.build_model(self.checkpoint_path)
        self._torch = torch

    def __getstate__(self) -> dict[str, Any]:
        # worker processes get the config and load the checkpoint themselves
        state = {k: v for k, v in self.__dict__.items() if k not in ("_model", "_torch")}
        state.update(_model=None, _loaded=False)
        return state

    def encode(self, wave: np.ndarray) -> EncodeResult:
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)).view(1, 1, -1)
        codes = self._model.encode(x, self.config.n_q)  # [n_q, 1, T]
        return EncodeResult(tokens=codes[:, 0, :].numpy().astype(np.int64))

    def encode_batch(self, waves: list[np.ndarray]) -> list[EncodeResult]:
        """One zero-padded batch ``[B, 1, max n]``; each result keeps ``ceil(n / hop)`` frames."""
        if not self._loaded:
            self.load()
        torch = self._torch
        if not waves:
            return []
        longest = max(len(w) for w in waves)
        batch = np.zeros((len(waves), 1, longest), dtype=np.float32)
        for i, w in enumerate(waves):
            batch[i, 0, : len(w)] = w
        codes = self._model.encode(torch.from_numpy(batch), self.config.n_q)  # [n_q, B, T]
        hop = self.model_config.hop
        return [EncodeResult(tokens=codes[:, i, : -(-len(w) // hop)].numpy().astype(np.int64))
                for i, w in enumerate(waves)]

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        torch = self._torch
        codes = torch.from_numpy(np.asarray(tokens, dtype=np.int64))[:, None, :]
        if codes.shape[0] > self.model_config.n_q:
            raise CodecError(f"{codes.shape[0]} token streams, the checkpoint has {self.model_config.n_q}")
        wave = self._model.decode(codes)[0, 0]
        return wave.numpy().astype(np.float32)
