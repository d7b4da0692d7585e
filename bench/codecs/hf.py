"""Pretrained neural codecs from Hugging Face ``transformers``: EnCodec, DAC, Mimi.

One adapter serves every ``transformers`` audio codec whose model has the RVQ shape
``encode(audio [B, 1, n]) -> audio_codes [B, K, T]`` and ``decode(audio_codes) -> audio``; the
small :data:`FAMILIES` table says, per ``model_type``, how to ask for K quantizers, what the hop
is, and which input padding the model's own feature extractor applies. Adding another such model
is one row in that table.

Tokens are the model's own codes, ``int64 [K, T]`` with K = ``num_quantizers`` (0 keeps every
quantizer the model has) and the vocabulary of every stream = ``codebook_size`` from the model's
config. The bitrate therefore follows from K, the frame rate and the codebook size, never from a
name: Mimi with 8 quantizers measures 12.5 x 8 x 11 = 1.1 kbps, with 32 it measures 4.4 kbps.

Weights come from ``weights=DIR`` or the local Hugging Face cache, with offline mode forced
(see :mod:`bench.codecs.pretrained_weights`). This module imports no torch or transformers at
import time; ``load()`` does.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, ClassVar

import numpy as np

from bench.codecs.base import Codec, CodecError, EncodeResult, require
from bench.codecs.pretrained_weights import (LocalWeights, TRANSFORMERS_WEIGHTS, backend_missing, force_offline, locate)
from bench.config import ConfigError, build_config


@dataclasses.dataclass(frozen=True)
class HFCodecConfig:
    #: Hugging Face repo id, looked up in the local cache when ``weights`` is empty.
    repo_id: str = ""
    #: Local directory holding config.json and model.safetensors (overrides the cache).
    weights: str = ""
    #: RVQ levels kept; 0 keeps every quantizer of the model.
    num_quantizers: int = 0
    #: Expected ``model_type`` of the weights ("encodec", "dac", "mimi"); "" accepts any supported.
    family: str = ""

    def __post_init__(self) -> None:
        if self.num_quantizers < 0:
            raise ValueError(f"num_quantizers must be >= 0, got {self.num_quantizers}")
        if self.family and self.family not in FAMILIES:
            raise ValueError(f"family must be one of {', '.join(sorted(FAMILIES))}, got {self.family!r}")


@dataclasses.dataclass(frozen=True)
class Family:
    """How one ``transformers`` codec is driven. ``x`` is float32 ``[1, 1, n]``; codes ``[1, K, T]``."""

    hop: Callable[[Any], float]  # samples per token frame, from the model config
    allowed_quantizers: Callable[[Any], list[int]]  # the quantizer counts the model can run
    encode: Callable[[Any, Any, int], Any]  # (model, x, K) -> codes
    decode: Callable[[Any, Any], Any]  # (model, codes) -> waveform [n]
    #: Right-pad the input to a whole number of hops, as the model's feature extractor does.
    pad_to_hop: bool = False
    unsupported: Callable[[Any], str | None] = lambda config: None


# -- EnCodec ------------------------------------------------------------------------------------
def _encodec_bits(config: Any) -> float:
    return math.log2(config.codebook_size)


def _encodec_quantizers(config: Any, bandwidth: float) -> int:
    # the model's own rule (EncodecResidualVectorQuantizer.get_num_quantizers_for_bandwidth):
    # K = floor(bandwidth / (log2(codebook_size) x frame_rate)), at least 1
    return int(max(1, math.floor(bandwidth * 1000 / (_encodec_bits(config) * config.frame_rate))))


def _encodec_bandwidth(model: Any, k: int) -> float:
    """The target bandwidth at which the model itself uses ``k`` quantizers."""
    for bw in model.config.target_bandwidths:
        if model.quantizer.get_num_quantizers_for_bandwidth(bw) == k:
            return bw
    valid = [_encodec_quantizers(model.config, bw) for bw in model.config.target_bandwidths]
    raise CodecError(f"this EnCodec model runs with num_quantizers in {valid} "
                     f"(target bandwidths {model.config.target_bandwidths} kbps), not {k}")


def _encodec_unsupported(config: Any) -> str | None:
    if config.normalize or config.chunk_length_s is not None or config.audio_channels != 1:
        # the 48 kHz model: stereo, chunked, and each chunk carries a float scale that the
        # integer [K, T] token contract has no room for
        return ("only mono EnCodec models without normalisation or chunking are supported "
                "(the 48 kHz model sends a float scale per chunk besides its codes)")
    return None


def _encodec_encode(model: Any, x: Any, k: int) -> Any:
    return model.encode(x, bandwidth=_encodec_bandwidth(model, k)).audio_codes[0]  # [chunks=1, B, K, T]


def _encodec_decode(model: Any, codes: Any) -> Any:
    return model.decode(codes[None], [None]).audio_values[0, 0]


# -- DAC (transformers' port of descript-audio-codec) -------------------------------------------
def _dac_encode(model: Any, x: Any, k: int) -> Any:
    return model.encode(x, n_quantizers=k).audio_codes


def _dac_decode(model: Any, codes: Any) -> Any:
    return model.decode(audio_codes=codes).audio_values[0]


# -- Mimi ---------------------------------------------------------------------------------------
def _mimi_encode(model: Any, x: Any, k: int) -> Any:
    return model.encode(x, num_quantizers=k).audio_codes


def _mimi_decode(model: Any, codes: Any) -> Any:
    return model.decode(codes).audio_values[0, 0]


FAMILIES: dict[str, Family] = {
    "encodec": Family(
        hop=lambda c: float(np.prod(c.upsampling_ratios)),
        # EnCodec runs only at its target bandwidths (24 kHz model: 2, 4, 8, 16, 32 quantizers)
        allowed_quantizers=lambda c: sorted({_encodec_quantizers(c, bw) for bw in c.target_bandwidths}),
        encode=_encodec_encode, decode=_encodec_decode, unsupported=_encodec_unsupported,
    ),
    "dac": Family(
        # DacConfig.frame_rate rounds up (44.1 kHz / 512 -> 87); the true rate is sr / hop
        hop=lambda c: float(c.hop_length),
        allowed_quantizers=lambda c: list(range(1, c.n_codebooks + 1)),
        encode=_dac_encode, decode=_dac_decode, pad_to_hop=True,  # DacFeatureExtractor pads
    ),
    "mimi": Family(
        hop=lambda c: c.sampling_rate / c.frame_rate,  # 24000 / 12.5 = 1920
        allowed_quantizers=lambda c: list(range(c.num_semantic_quantizers, c.num_quantizers + 1)),
        encode=_mimi_encode, decode=_mimi_decode,
    ),
}


class HFCodec(LocalWeights, Codec):
    """A ``transformers`` audio codec (EncodecModel, DacModel, MimiModel) as a bench codec."""

    Config = HFCodecConfig
    version = "1"
    extra = "pretrained"
    weight_names: ClassVar[tuple[str, ...]] = TRANSFORMERS_WEIGHTS

    def __init__(self, config: Any = None, *, name: str | None = None):
        super().__init__(config, name=name)
        self._model: Any = None
        self._hf_config: Any = None
        self._family: Family | None = None

    # -- where the weights are ----------------------------------------------------------------
    @classmethod
    def unavailable_reason(cls, options: dict[str, Any]) -> str | None:
        """Why this preset cannot run here (no weights, no backend), or None. Imports no torch."""
        try:
            config = build_config(cls.Config, options, cls.__name__)
        except ConfigError as exc:
            return str(exc)
        directory, _ = locate(config.weights, config.repo_id, cls.weight_names)
        if directory is None:
            return "weights not found" if config.weights or config.repo_id else "needs weights=DIR"
        return backend_missing("torch", "transformers")

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["weights_dir"] = self.weights_dir()
        info["model_type"] = self._hf_config.model_type if self._hf_config is not None else None
        return info

    # -- declared facts (from the model's config.json: never the weights) ------------------------
    @property
    def sample_rate(self) -> int:
        return int(self._read_config().sampling_rate)

    @property
    def frame_rate(self) -> float:
        hf_config = self._read_config()  # sets the family too
        return self.sample_rate / self._family.hop(hf_config)

    @property
    def active_quantizers(self) -> int:
        hf_config = self._read_config()
        return self.config.num_quantizers or self._family.allowed_quantizers(hf_config)[-1]

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        return (int(self._read_config().codebook_size),) * self.active_quantizers

    def _read_config(self) -> Any:
        """The transformers config of the weights folder (config.json only), checked against
        this codec's family and quantizer count; cached."""
        if self._hf_config is not None:
            return self._hf_config
        directory = self.weights_dir()
        force_offline()
        transformers = require("transformers", self.extra)
        transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar per worker
        hf_config = transformers.AutoConfig.from_pretrained(directory, local_files_only=True)
        kind = hf_config.model_type
        if kind not in FAMILIES:
            raise CodecError(f"{directory} holds a {kind!r} model; supported transformers codecs: "
                             f"{', '.join(sorted(FAMILIES))}")
        if self.config.family and kind != self.config.family:
            raise CodecError(f"{directory} holds a {kind!r} model, but codec {self.name!r} "
                             f"expects {self.config.family!r}")
        family = FAMILIES[kind]
        why = family.unsupported(hf_config)
        if why:
            raise CodecError(f"{self.name}: {why}")
        allowed = family.allowed_quantizers(hf_config)
        k = self.config.num_quantizers or allowed[-1]
        if k not in allowed:
            runs = (f"{allowed[0]}..{allowed[-1]}" if allowed == list(range(allowed[0], allowed[-1] + 1))
                    else str(allowed))
            raise CodecError(f"{self.name}: num_quantizers={k}, but this {kind} model runs with "
                             f"{runs} quantizers")
        self._hf_config, self._family = hf_config, family
        return hf_config

    # -- verbs ------------------------------------------------------------------------------
    def _load(self) -> None:
        hf_config = self._read_config()
        torch = require("torch", self.extra)
        transformers = require("transformers", self.extra)
        model = transformers.AutoModel.from_pretrained(
            self.weights_dir(), config=hf_config, local_files_only=True, dtype=torch.float32)
        model.eval().to("cpu")
        self._model = model

    def __getstate__(self) -> dict[str, Any]:
        # process pools pickle the codec: ship the config, let each worker load the weights
        state = dict(self.__dict__)
        state.update(_model=None, _hf_config=None, _family=None, _loaded=False)
        return state

    def _input(self, wave: np.ndarray) -> Any:
        import torch

        x = np.asarray(wave, dtype=np.float32).reshape(-1)
        if self._family.pad_to_hop:
            hop = int(round(self._family.hop(self._hf_config)))
            x = np.pad(x, (0, -len(x) % hop))
        return torch.from_numpy(np.ascontiguousarray(x))[None, None]

    def encode(self, wave: np.ndarray) -> EncodeResult:
        import torch

        self.load()
        if len(wave) == 0:
            raise CodecError("cannot encode an empty signal")
        with torch.inference_mode():
            codes = self._family.encode(self._model, self._input(wave), self.active_quantizers)
        return EncodeResult(tokens=codes[0].to(torch.int64).numpy().copy())

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        import torch

        self.load()
        codes = torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.int64))[None]
        with torch.inference_mode():
            wave = self._family.decode(self._model, codes)
        return wave.to(torch.float32).numpy().reshape(-1).copy()
