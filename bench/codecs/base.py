"""The codec contract every tokenizer obeys, neural or not.

A codec declares its facts (sample rate, frame rate, the vocabulary size of each token stream)
and has two verbs::

    encode(wave: float32 [n]) -> EncodeResult(tokens: int64 [K, T], payload_bytes)
    decode(tokens: int64 [K, T]) -> float32 [m]     # m within one frame of n

``K`` is the number of token streams (RVQ levels, or 1 for sample tokenizers) and ``T`` the
number of frames. Bitrate is never typed in: it is derived here from what the tokens are
(frames per second x sum of log2 vocabulary sizes) and, where a codec knows its true payload
(MP3 bytes, an entropy coder's output), from that payload as well.

Constructors only store the config; heavy work (imports, weights) happens in :meth:`load`,
which the harness calls once per worker.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, ClassVar

import numpy as np

from bench.config import build_config, config_to_dict, stable_hash


class CodecError(RuntimeError):
    """A codec failed on an input (recorded per item), or cannot load (raised to the user)."""


class MissingDependency(CodecError):
    """A backend package is not installed; the message names the extra to install."""


def require(module: str, extra: str, package: str | None = None) -> Any:
    """Import ``module`` or raise :class:`MissingDependency` naming the pip extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pkg = package or module
        raise MissingDependency(
            f"{pkg} is not installed ({exc}). Install it with: pip install 'bench[{extra}]'"
        ) from exc


def is_installed(module: str) -> bool:
    """Whether ``module`` can be found, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_installed(module: str, extra: str, package: str | None = None) -> None:
    """Raise :class:`MissingDependency` naming the pip extra when ``module`` cannot be found,
    without importing it. For a worker's ``load`` when only the corpus summary (in the driver)
    imports the module (scikit-learn's own import is about 0.3 CPU-s in a worker that has SciPy)."""
    if not is_installed(module):
        pkg = package or module
        raise MissingDependency(f"{pkg} is not installed. Install it with: pip install 'bench[{extra}]'")


@dataclasses.dataclass(frozen=True)
class EncodeResult:
    """What ``encode`` returns. Named fields, so more can be added without breaking callers."""

    tokens: np.ndarray  # int64 [K, T]
    payload_bytes: int | None = None  # true compressed size, for codecs that have one


@dataclasses.dataclass(frozen=True)
class NoConfig:
    """Config of a codec without options."""


class Codec:
    """Base class. Subclasses set ``Config`` and implement the declared facts and verbs."""

    Config: ClassVar[type] = NoConfig
    #: Bump when a code change can move a number for the same config.
    version: ClassVar[str] = "1"
    #: The pip extra its backend needs ("" for the core).
    extra: ClassVar[str] = ""
    #: Bound (seconds) of the runner's alignment search for this codec; None: the run's
    #: ``--max-lag``. A codec that removes its own delay and keeps no waveform phase (a vocoder)
    #: sets 0: cross-correlation peaks of random-phase output mean nothing.
    max_align_lag: ClassVar[float | None] = None
    #: True when the number of token frames depends on the content, not only the length (MP3's
    #: bit reservoir): the conformance checks then skip the frame-count rule.
    variable_frame_count: ClassVar[bool] = False
    #: True when :meth:`encode_batch` really encodes several inputs in one padded batch (and the
    #: tokens task's padding check applies); the default ``encode_batch`` encodes one by one.
    supports_batch: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # One rule for loading: a codec loads itself on first use. encode/decode of every
        # subclass call load() first (idempotent), so build_codec("x").encode(wave) just works.
        super().__init_subclass__(**kwargs)
        for verb in ("encode", "decode"):
            fn = cls.__dict__.get(verb)
            if fn is not None and not getattr(fn, "_loads_first", False):
                setattr(cls, verb, _loads_first(fn))

    def __init__(self, config: Any = None, *, name: str | None = None):
        self.config = config if config is not None else self.Config()
        self.name = name or type(self).__name__.lower()
        self._loaded = False

    @classmethod
    def from_options(cls, options: dict[str, Any], name: str | None = None) -> "Codec":
        return cls(build_config(cls.Config, options, f"codec {name or cls.__name__}"), name=name)

    # -- declared facts ---------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        raise NotImplementedError

    @property
    def frame_rate(self) -> float:
        """Token frames per second of audio."""
        raise NotImplementedError

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        """Vocabulary size of each of the K token streams."""
        raise NotImplementedError

    @property
    def num_streams(self) -> int:
        return len(self.vocab_sizes)

    @property
    def hop_length(self) -> float:
        """Samples per frame at the codec's rate."""
        return self.sample_rate / self.frame_rate

    @property
    def bits_per_frame(self) -> float:
        return float(sum(math.log2(v) for v in self.vocab_sizes))

    @property
    def nominal_bitrate(self) -> float:
        """Bits per second if every frame carried log2(vocab) bits per stream."""
        return self.frame_rate * self.bits_per_frame

    @property
    def length_slack(self) -> int:
        """Samples (at ``sample_rate``) by which the decoded length may exceed the input beyond
        one frame (packet or frame padding, e.g. Opus and MP3). Default 0."""
        return 0

    @classmethod
    def unavailable_reason(cls, options: dict[str, Any]) -> str | None:
        """Why a preset with these options cannot run here (weights or backend missing), or None.
        Must stay cheap (no torch import, no weights): ``bench list`` calls it for every preset."""
        return None

    # -- identity for provenance --------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return config_to_dict(self.config)

    def weights_hash(self) -> str | None:
        """SHA-256 of the weights a neural codec loads; None for codecs without weights."""
        return None

    def identity(self) -> dict[str, Any]:
        """Everything that fixes this codec's output: goes into cache keys and result records."""
        return {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "version": self.version,
            "config": self.config_dict(),
            "weights_hash": self.weights_hash(),
        }

    @property
    def config_hash(self) -> str:
        return stable_hash(self.identity())

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.identity(),
            "config_hash": self.config_hash,
            "sample_rate": self.sample_rate,
            "frame_rate": self.frame_rate,
            "vocab_sizes": list(self.vocab_sizes),
            "nominal_kbps": self.nominal_bitrate / 1000.0,
        }

    # -- verbs ------------------------------------------------------------------------------
    def load(self) -> None:
        """Import backends, load weights. Called once before the first encode; idempotent."""
        if not self._loaded:
            self._load()
            self._loaded = True

    def _load(self) -> None:
        pass

    def encode(self, wave: np.ndarray) -> EncodeResult:
        """float32 mono samples at ``sample_rate`` -> tokens int64 ``[K, T]``."""
        raise NotImplementedError

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        """Tokens int64 ``[K, T]`` -> float32 mono samples at ``sample_rate``."""
        raise NotImplementedError

    def encode_batch(self, waves: list[np.ndarray]) -> list[EncodeResult]:
        """Several inputs at once, one result per input with the frames of that input alone.

        A codec with ``supports_batch = True`` zero-pads the inputs to the longest and encodes
        them in one call (what a training data loader does); the tokens of each input should
        not depend on the batch it is in (bench.testing.check_padding_invariant). This default
        encodes them one by one.
        """
        return [self.encode(w) for w in waves]


def _loads_first(fn: Any) -> Any:
    @functools.wraps(fn)
    def verb(self: "Codec", *args: Any, **kwargs: Any) -> Any:
        if not self._loaded:
            self.load()
            self._loaded = True  # also when a subclass overrides load() itself
        return fn(self, *args, **kwargs)

    verb._loads_first = True  # type: ignore[attr-defined]
    return verb


class ByteStreamCodec(Codec):
    """A codec whose tokens are the bytes of its compressed stream (MP3 frames, Opus packets):
    one stream of 256 symbols, nominally ``config.bitrate_kbps * 1000 / 8`` tokens per second
    at ``config.sample_rate``."""

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        """Nominal bytes (tokens) per second."""
        return self.config.bitrate_kbps * 1000.0 / 8.0

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        return (256,)


def token_bitrate(codec: Codec, tokens: np.ndarray, duration: float) -> float:
    """Measured bits per second of a token array: frames x sum(log2 vocab) / duration."""
    if duration <= 0:
        return float("nan")
    return tokens.shape[1] * codec.bits_per_frame / duration


def check_tokens(codec: Codec, tokens: np.ndarray) -> np.ndarray:
    """Validate an encode output against the declared facts; return it as int64."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or tokens.shape[0] != codec.num_streams:
        raise CodecError(
            f"codec {codec.name} returned tokens of shape {tokens.shape}; "
            f"expected [K={codec.num_streams}, T]"
        )
    if not np.issubdtype(tokens.dtype, np.integer):
        raise CodecError(f"codec {codec.name} returned non-integer tokens ({tokens.dtype})")
    tokens = tokens.astype(np.int64, copy=False)
    if tokens.size:
        vocab = np.asarray(codec.vocab_sizes)[:, None]
        if (tokens < 0).any() or (tokens >= vocab).any():
            raise CodecError(f"codec {codec.name} returned tokens outside [0, vocab)")
    return tokens
