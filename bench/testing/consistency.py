"""The token consistency suite: does the same sound always give the same tokens?

Four checks, each a plain function of a codec (plus tolerances with defaults), for a codec
repository's own CI, parametrized like the conformance checks::

    import pytest
    from bench.testing import CONSISTENCY_CHECKS

    @pytest.mark.parametrize("check", CONSISTENCY_CHECKS, ids=lambda c: c.__name__)
    def test_my_codec_consistency(check):
        check(MyCodec())

* :func:`check_encode_deterministic`: the same input gives the same tokens, again, after another
  input, and from a fresh instance built from the same config.
* :func:`check_tandem`: re-encoding the codec's own decoding gives tokens of the same shape
  (streams, and frames within one), within ``max_ned`` normalised edit distance of the first
  (default 1.0: any; a lossless or idempotent codec should pass ``max_ned=0``).
* :func:`check_chunking`: encoding in ``chunk_s`` chunks and concatenating gives about as many
  frames as encoding the whole (slack per chunk: one frame plus the codec's ``length_slack``),
  within ``max_ned``.
* :func:`check_padding_invariant`: ``encode_batch`` gives each input the tokens ``encode``
  gives it alone; for a codec with ``supports_batch`` the input is padded inside a batch with a
  longer one and its last ``tail_frames`` frames (the reach of its receptive field into the
  padding) are exempt.

The tolerances default to what every codec must meet; tighter ones state a codec's promise.
:class:`NonDeterministicTokens` is a codec that fails them (dither from an unseeded generator).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bench.codecs.base import Codec, EncodeResult, check_tokens
from bench.codecs.mulaw import MuLaw
from bench.metrics.tokens import normalized_edit_distance
from bench.testing.conformance import probe_signal


def _tokens(codec: Codec, wave: np.ndarray) -> np.ndarray:
    return check_tokens(codec, np.asarray(codec.encode(np.ascontiguousarray(wave, dtype=np.float32)).tokens))


def _frames_ok(codec: Codec, a: np.ndarray, b: np.ndarray, slack: int) -> bool:
    return codec.variable_frame_count or abs(a.shape[1] - b.shape[1]) <= slack


def check_encode_deterministic(codec: Codec) -> None:
    codec.load()
    x = probe_signal(codec.sample_rate, 1.3, seed=0)
    other = probe_signal(codec.sample_rate, 0.9, seed=1)
    first = _tokens(codec, x)
    assert np.array_equal(first, _tokens(codec, x)), "encode gave different tokens for the same input"
    _tokens(codec, other)
    assert np.array_equal(first, _tokens(codec, x)), "encoding another input changed the tokens of this one (state leak)"
    fresh = type(codec)(codec.config, name=codec.name)
    assert np.array_equal(first, _tokens(fresh, x)), "a fresh instance with the same config gave different tokens"


def check_tandem(codec: Codec, max_ned: float = 1.0) -> None:
    codec.load()
    x = probe_signal(codec.sample_rate, 1.3)
    first = _tokens(codec, x)
    y = np.asarray(codec.decode(first), dtype=np.float32)
    y = y[: len(x)] if len(y) >= len(x) else np.concatenate([y, np.zeros(len(x) - len(y), np.float32)])
    again = _tokens(codec, y)
    assert again.shape[0] == first.shape[0], "tandem changed the number of streams"
    assert _frames_ok(codec, first, again, 1), f"tandem gave {again.shape[1]} frames, the input {first.shape[1]}"
    ned = normalized_edit_distance(first, again)
    assert ned <= max_ned, f"tandem tokens differ: normalised edit distance {ned:.4f} > {max_ned}"


def check_chunking(codec: Codec, chunk_s: float = 1.0, max_ned: float = 1.0) -> None:
    codec.load()
    x = probe_signal(codec.sample_rate, 2.6)
    whole = _tokens(codec, x)
    step = int(round(chunk_s * codec.sample_rate))
    parts = [_tokens(codec, x[i : i + step]) for i in range(0, len(x), step)]
    assert all(p.shape[0] == whole.shape[0] for p in parts), "a chunk gave a different number of streams"
    joined = np.concatenate(parts, axis=1)
    per_chunk = 1 + int(np.ceil(codec.length_slack / codec.hop_length))  # a frame, and the codec's padding
    assert _frames_ok(codec, whole, joined, per_chunk * len(parts)), (
        f"{len(parts)} chunks gave {joined.shape[1]} frames, the whole {whole.shape[1]} "
        f"(slack: {per_chunk} per chunk)")
    ned = normalized_edit_distance(whole, joined)
    assert ned <= max_ned, f"chunked tokens differ: normalised edit distance {ned:.4f} > {max_ned}"


def check_padding_invariant(codec: Codec, tail_frames: int = 0) -> None:
    codec.load()
    x = probe_signal(codec.sample_rate, 1.3)
    alone = _tokens(codec, x)
    single = codec.encode_batch([x.copy()])
    assert len(single) == 1 and isinstance(single[0], EncodeResult), "encode_batch must return one EncodeResult per input"
    assert np.array_equal(check_tokens(codec, np.asarray(single[0].tokens)), alone), \
        "encode_batch of one input differs from encode"
    longer = np.concatenate([probe_signal(codec.sample_rate, 1.3, seed=2), x[: len(x) // 2]])
    batch = codec.encode_batch([x.copy(), longer])
    assert len(batch) == 2, "encode_batch must return one result per input"
    mine = check_tokens(codec, np.asarray(batch[0].tokens))
    assert mine.shape == alone.shape, f"in a batch the input got tokens {mine.shape}, alone {alone.shape}"
    keep = max(0, alone.shape[1] - (tail_frames if codec.supports_batch else 0))
    diff = np.flatnonzero((mine[:, :keep] != alone[:, :keep]).any(axis=0))
    assert diff.size == 0, (f"padding inside a batch changed {diff.size} of the first {keep} frames "
                            f"(first at frame {diff[0] if diff.size else -1})")


CONSISTENCY_CHECKS = (check_encode_deterministic, check_tandem, check_chunking, check_padding_invariant)


def check_consistency(codec: Codec) -> None:
    """Run every consistency check with its default tolerances."""
    for check in CONSISTENCY_CHECKS:
        check(codec)


# -- a codec that must fail -------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class NonDeterministicConfig:
    bits: int = 8
    sample_rate: int = 16_000
    dither: float = 0.02  # uniform dither of +-2 x this, added to the companded signal in [-1, 1]


class NonDeterministicTokens(MuLaw):
    """mu-law sample tokens with dither from an *unseeded* generator: the same input gives
    different tokens on every call (decoding is mu-law's). A control: the consistency suite must
    fail it."""

    Config = NonDeterministicConfig

    def encode(self, wave: np.ndarray) -> EncodeResult:
        c = self.compand(wave)
        noise = np.random.default_rng().uniform(-1, 1, len(c)) * self.config.dither * 2.0  # unseeded: on purpose
        return EncodeResult(tokens=self.quantize(c + noise)[None, :])


__all__ = ["CONSISTENCY_CHECKS", "NonDeterministicTokens", "check_chunking", "check_consistency",
           "check_encode_deterministic", "check_padding_invariant", "check_tandem"]
