"""The codec conformance suite (one function per promise of the codec contract)."""

from __future__ import annotations

import math
import sys

import numpy as np

from bench.codecs.base import Codec, check_tokens, token_bitrate


def probe_signal(sample_rate: int, seconds: float = 1.3, seed: int = 0) -> np.ndarray:
    """A speech-like test input: harmonic tone with vibrato, on/off envelope, a little noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = 140 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    nyq = sample_rate / 2
    x = sum(np.sin(h * phase) / h for h in range(1, 20) if 140 * h * 1.1 < nyq)
    env = 0.5 * (1 - np.cos(2 * np.pi * np.clip(t / seconds, 0, 1)))
    x = 0.3 * x * env / np.max(np.abs(x)) + 0.003 * rng.standard_normal(n)
    return x.astype(np.float32)


def _roundtrip(codec: Codec, seconds: float = 1.3):
    codec.load()
    wave = probe_signal(codec.sample_rate, seconds)
    enc = codec.encode(wave)
    return wave, enc, codec.decode(enc.tokens)


def check_declared_facts(codec: Codec) -> None:
    assert isinstance(codec.sample_rate, int) and codec.sample_rate > 0, "sample_rate must be a positive int"
    assert codec.frame_rate > 0, "frame_rate must be positive"
    assert len(codec.vocab_sizes) >= 1, "at least one token stream"
    assert all(isinstance(v, int) and v >= 2 for v in codec.vocab_sizes), "vocab sizes must be ints >= 2"
    assert codec.config_hash == type(codec)(codec.config).config_hash, "config hash must be stable"


def check_tokens_valid(codec: Codec) -> None:
    wave, enc, _ = _roundtrip(codec)
    tokens = np.asarray(enc.tokens)
    assert np.issubdtype(tokens.dtype, np.integer), f"tokens must be integers, got {tokens.dtype}"
    assert tokens.ndim == 2 and tokens.shape[0] == codec.num_streams, f"tokens shape {tokens.shape} != [K, T]"
    check_tokens(codec, tokens)  # raises if out of range
    expected_frames = len(wave) / codec.hop_length
    if not codec.variable_frame_count:
        assert abs(tokens.shape[1] - expected_frames) <= 2 + 0.02 * expected_frames, (
            f"{tokens.shape[1]} frames for {len(wave)} samples; frame rate implies {expected_frames:.1f}"
        )


def check_decoded_length(codec: Codec) -> None:
    wave, _, out = _roundtrip(codec)
    out = np.asarray(out)
    assert out.ndim == 1, f"decode must return mono [n], got shape {out.shape}"
    assert out.dtype == np.float32, f"decode must return float32, got {out.dtype}"
    assert np.isfinite(out).all(), "decoded audio has NaN/Inf"
    slack = max(codec.hop_length, codec.length_slack)
    assert abs(len(out) - len(wave)) <= slack, (
        f"decoded {len(out)} samples for {len(wave)} in; allowed difference {slack:g} (one frame)"
    )


def check_deterministic(codec: Codec) -> None:
    _, enc1, out1 = _roundtrip(codec)
    _, enc2, out2 = _roundtrip(codec)
    assert np.array_equal(enc1.tokens, enc2.tokens), "encode is not deterministic"
    assert np.array_equal(out1, out2), "decode is not deterministic"


def check_bitrate_consistent(codec: Codec) -> None:
    wave, enc, _ = _roundtrip(codec, seconds=2.0)
    duration = len(wave) / codec.sample_rate
    measured = token_bitrate(codec, np.asarray(enc.tokens), duration)
    if not codec.variable_frame_count:
        assert math.isclose(measured, codec.nominal_bitrate, rel_tol=0.05), (
            f"token bitrate {measured:.0f} b/s differs from nominal {codec.nominal_bitrate:.0f} b/s"
        )
    if enc.payload_bytes is not None:
        assert enc.payload_bytes > 0, "payload_bytes must be positive"


def check_cpu_only(codec: Codec) -> None:
    _roundtrip(codec)
    torch = sys.modules.get("torch")
    if torch is not None:
        for obj in vars(codec).values():
            params = getattr(obj, "parameters", None)
            if callable(params):
                for p in params():
                    assert p.device.type == "cpu", f"parameter on {p.device}: codecs must run on CPU"


CONFORMANCE_CHECKS = (
    check_declared_facts, check_tokens_valid, check_decoded_length, check_deterministic,
    check_bitrate_consistent, check_cpu_only,
)


def check_codec(codec: Codec) -> None:
    """Run every conformance check on ``codec``."""
    for check in CONFORMANCE_CHECKS:
        check(codec)
