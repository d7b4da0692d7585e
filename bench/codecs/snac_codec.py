"""SNAC, the multi-scale neural audio codec (Siuzdak et al., 2024), via the ``snac`` package.

SNAC quantizes one latent sequence with residual VQ levels that run at different rates: level
``i`` has stride ``s_i`` (24 kHz model: ``vq_strides = [4, 2, 1]`` over a 512-sample hop, so
11.7, 23.4 and 46.9 codes per second, 4096 entries each).

How the levels map onto the ``[K, T]`` token contract: one token frame is one step of the
coarsest level (``max(s) x hop`` samples). Level ``i`` contributes ``max(s) / s_i`` rows, its
consecutive codes within that step in time order, so ``K = sum(max(s) / s_i)`` (1 + 2 + 4 = 7
for the 24 kHz model) and every row has the codebook size as vocabulary. Row order: the coarse
code, then the middle level's two codes, then the fine level's four. Frames x rows x log2(4096)
is then exactly the number of bits SNAC sends: 11.72 x 7 x 12 = 984 b/s for the 24 kHz model.

Two details of the library, and what the adapter does about them:

- ``SNAC.preprocess`` pads the input to a multiple of ``hop x lcm(max(s), attn_window)``
  samples (up to 0.68 s at 24 kHz with a 32-frame window). Frames that lie wholly in that
  padding are dropped from the tokens, so the token count and the measured bitrate follow the
  real duration. To decode, the frames are padded back to the length the decoder's local
  attention needs by repeating the last frame, and the extra output is cut off.
- The decoder adds noise (``NoiseBlock``: Gaussian noise scaled by a learned projection). The
  adapter seeds torch's generator with ``noise_seed`` inside ``torch.random.fork_rng``, so
  decoding is deterministic and the caller's RNG state is restored afterwards.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np

from bench.codecs.base import Codec, CodecError, EncodeResult, require
from bench.codecs.pretrained_weights import (LocalWeights, backend_missing, force_offline, locate)
from bench.config import ConfigError, build_config


@dataclasses.dataclass(frozen=True)
class SNACConfig:
    #: Hugging Face repo id, looked up in the local cache when ``weights`` is empty.
    repo_id: str = "hubertsiuzdak/snac_24khz"
    #: Local directory holding config.json and pytorch_model.bin (overrides the cache).
    weights: str = ""
    #: Seed of the decoder's noise injection (decoding is deterministic for a given seed).
    noise_seed: int = 0


def interleave(codes: list[np.ndarray], strides: list[int]) -> np.ndarray:
    """Per-level codes ``[T * max(s) / s_i]`` -> tokens ``[sum(max(s) / s_i), T]``."""
    top = max(strides)
    rows = []
    for level, stride in zip(codes, strides):
        per_frame = top // stride
        frames = len(level) // per_frame
        rows.append(np.asarray(level[: frames * per_frame]).reshape(frames, per_frame).T)
    n = min(r.shape[1] for r in rows)
    return np.concatenate([r[:, :n] for r in rows], axis=0)


def deinterleave(tokens: np.ndarray, strides: list[int]) -> list[np.ndarray]:
    """Inverse of :func:`interleave`: tokens ``[K, T]`` -> per-level codes ``[T * max(s) / s_i]``."""
    top = max(strides)
    out, row = [], 0
    for stride in strides:
        per_frame = top // stride
        out.append(np.ascontiguousarray(tokens[row : row + per_frame].T).reshape(-1))
        row += per_frame
    return out


class SNACCodec(LocalWeights, Codec):
    """SNAC with its multi-rate codes interleaved into one token frame per coarsest step."""

    Config = SNACConfig
    version = "1"
    extra = "pretrained"
    weight_names: ClassVar[tuple[str, ...]] = ("pytorch_model.bin",)

    def __init__(self, config: Any = None, *, name: str | None = None):
        super().__init__(config, name=name)
        self._model: Any = None
        self._spec: dict[str, Any] = {}

    @classmethod
    def unavailable_reason(cls, options: dict[str, Any]) -> str | None:
        """Why this preset cannot run here (no weights, no backend), or None. Imports no torch."""
        try:
            config = build_config(cls.Config, options, cls.__name__)
        except ConfigError as exc:
            return str(exc)
        if locate(config.weights, config.repo_id, cls.weight_names)[0] is None:
            return "weights not found"
        return backend_missing("torch", "snac")

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["weights_dir"] = self.weights_dir()
        info["vq_strides"] = list(self._spec.get("strides", []))
        return info

    # -- declared facts -----------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        self.load()
        return int(self._spec["sample_rate"])

    @property
    def frame_rate(self) -> float:
        self.load()
        return self._spec["sample_rate"] / self._spec["frame_hop"]

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        self.load()
        top = max(self._spec["strides"])
        return (int(self._spec["codebook_size"]),) * sum(top // s for s in self._spec["strides"])

    # -- verbs ------------------------------------------------------------------------------
    def _load(self) -> None:
        directory = self.weights_dir()
        force_offline()
        require("torch", self.extra)
        snac = require("snac", self.extra)
        model = snac.SNAC.from_pretrained(directory)  # a local folder: no hub access
        model.eval().to("cpu")
        strides = [int(s) for s in model.vq_strides]
        top = max(strides)
        if any(top % s for s in strides):
            raise CodecError(f"{self.name}: vq_strides {strides} do not divide the largest one")
        window = model.attn_window_size or 1
        self._model = model
        self._spec = {
            "sample_rate": int(model.sampling_rate),
            "strides": strides,
            "codebook_size": int(model.codebook_size),
            "hop": int(model.hop_length),
            "frame_hop": int(model.hop_length) * top,
            # token frames the decoder must see at once (its local attention windows)
            "decode_multiple": math.lcm(top, window) // top,
        }

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_model=None, _spec={}, _loaded=False)
        return state

    def encode(self, wave: np.ndarray) -> EncodeResult:
        import torch

        self.load()
        x = np.asarray(wave, dtype=np.float32).reshape(-1)
        if len(x) == 0:
            raise CodecError("cannot encode an empty signal")
        with torch.inference_mode():
            codes = self._model.encode(torch.from_numpy(np.ascontiguousarray(x))[None, None])
        tokens = interleave([c[0].numpy() for c in codes], self._spec["strides"])
        keep = math.ceil(len(x) / self._spec["frame_hop"])  # frames that touch real samples
        return EncodeResult(tokens=tokens[:, :keep].astype(np.int64))

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        import torch

        self.load()
        tokens = np.asarray(tokens, dtype=np.int64)
        n = tokens.shape[1]
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        pad = -n % self._spec["decode_multiple"]
        if pad:
            tokens = np.concatenate([tokens, np.repeat(tokens[:, -1:], pad, axis=1)], axis=1)
        codes = [torch.from_numpy(c)[None] for c in deinterleave(tokens, self._spec["strides"])]
        with torch.inference_mode(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.noise_seed)
            wave = self._model.decode(codes)
        return wave[0, 0, : n * self._spec["frame_hop"]].to(torch.float32).numpy().copy()
