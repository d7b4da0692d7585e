import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.codecs.base import CodecError, check_tokens
from bench.datasets.synthetic import make_signal
from bench.runner import build_codec, run_codec
from bench.metrics.signal import pesq_score, si_sdr, stoi_score
from bench.testing import CONFORMANCE_CHECKS

CORE = ["identity", "mulaw", "mulaw-2bit", "mulaw-12bit", "mulaw:bits=16,sample_rate=8000"]


@pytest.mark.parametrize("spec", CORE)
@pytest.mark.parametrize("check", CONFORMANCE_CHECKS, ids=lambda c: c.__name__)
def test_conformance(spec, check):
    check(build_codec(spec))


def test_identity_is_exact_on_16bit_input():
    wave = make_signal("vowel", 1, seed=3).wave
    codec = build_codec("identity")
    out = codec.decode(codec.encode(wave).tokens)
    assert np.array_equal(out, wave)


def test_mulaw_bitrate_is_measured_from_tokens():
    codec = build_codec("mulaw-4bit")
    assert codec.nominal_bitrate == 64_000
    assert build_codec("pcm16").nominal_bitrate == 256_000
    assert build_codec("identity").nominal_bitrate == 512_000  # float32 samples, lossless


def test_check_tokens_rejects_out_of_range():
    codec = build_codec("mulaw-4bit")
    with pytest.raises(CodecError, match="outside"):
        check_tokens(codec, np.array([[16]]))
    with pytest.raises(CodecError, match="shape"):
        check_tokens(codec, np.zeros((2, 5), dtype=np.int64))


SPEECHLIKE = make_signal("vowel", 2, seed=11, duration=3.0)


def _quality(bits: int) -> tuple[float, float, float]:
    out, ref = run_codec(build_codec(f"mulaw:bits={bits}"), SPEECHLIKE.wave, SPEECHLIKE.sample_rate, 0.25)
    return (pesq_score(ref, out.recon, "wb"), stoi_score(ref, out.recon, False), si_sdr(ref, out.recon))


@settings(max_examples=6, deadline=None, derandomize=True)
@given(st.integers(min_value=2, max_value=11))
def test_quality_never_rises_as_bits_fall(bits):
    """Property: removing one bit never improves PESQ-WB, STOI or SI-SDR (small tolerance)."""
    hi, lo = _quality(bits + 1), _quality(bits)
    assert lo[0] <= hi[0] + 0.02, (bits, lo, hi)
    assert lo[1] <= hi[1] + 0.002, (bits, lo, hi)
    assert lo[2] <= hi[2] + 0.1, (bits, lo, hi)
