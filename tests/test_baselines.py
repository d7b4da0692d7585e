"""Traditional-codec baselines: MP3, Opus, Codec 2, our MDCT tokenizer and the mu-law ladder.

Conformance for one preset of each family, measured bitrate against the target for the
constant-bitrate presets, MDCT perfect reconstruction, quality that does not fall as bitrate
rises within each family (on built-in speech), and MP3's delay handled by alignment.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.codecs import CODECS
from bench.codecs.base import MissingDependency, token_bitrate
from bench.codecs.dct import DCT, DCTConfig, imdct, mdct, pack_tokens, unpack_tokens
from bench.metrics.signal import pesq_score, stoi_score
from bench.testing import CONFORMANCE_CHECKS, probe_signal

FAMILIES = {
    "mp3": ["mp3-8k", "mp3-16k", "mp3-24k", "mp3-32k", "mp3-64k"],
    "opus": ["opus-6k", "opus-8k", "opus-12k", "opus-16k", "opus-24k"],
    "codec2": ["codec2-700", "codec2-1200", "codec2-1600", "codec2-2400", "codec2-3200"],
    "dct-bits": ["dct-q2", "dct-q3", "dct-q4", "dct-q6", "dct-q8"],
    "dct-keep": ["dct-q4-k16", "dct-q4-k32", "dct-q4-k64", "dct-q4"],
    "mulaw": ["mulaw-2bit", "mulaw-3bit", "mulaw-4bit", "mulaw-5bit", "mulaw-6bit", "mulaw-8bit",
              "mulaw-10bit", "mulaw-12bit"],
}
#: Target bitrate (b/s) of each constant-bitrate preset.
CBR_TARGETS = {**{f"mp3-{k}k": 1000 * k for k in (8, 16, 24, 32, 64)},
               **{f"opus-{k}k": 1000 * k for k in (6, 8, 12, 16, 24)},
               **{f"codec2-{m}": m for m in (700, 1200, 1600, 2400, 3200)}}
#: How far a mean score may dip between neighbouring presets before it counts as falling
#: (PESQ and STOI of two items are not perfectly smooth in the bitrate).
TOLERANCE = {"pesq_wb": 0.02, "stoi": 0.005}


def build(name: str):
    codec = CODECS.build(name, {})
    try:
        codec.load()
    except MissingDependency as exc:
        pytest.skip(str(exc))
    return codec


@pytest.fixture(scope="module")
def speech():
    """Two utterances of the built-in corpus (different speakers and accents), 16 kHz."""
    from bench.datasets import DATASETS

    try:
        items = DATASETS.build("synth-speech-quick", {}).items()
        audio = [items[i].load() for i in (0, len(items) // 2)]
    except Exception as exc:  # corpus files missing from this checkout
        pytest.skip(f"synth-speech corpus unavailable: {exc}")
    assert all(a.sample_rate == 16_000 for a in audio)
    return [a.wave for a in audio]


# -- conformance ----------------------------------------------------------------------------
@pytest.mark.parametrize("check", CONFORMANCE_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", ["mp3-16k", "opus-8k", "codec2-1200", "dct-q4-k32"])
def test_conformance(name, check):
    check(build(name))


def test_listing_shows_bitrates():
    for names in FAMILIES.values():
        for name in names:
            assert "kbps" in CODECS.get(name).description, name


# -- measured bitrate -----------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CBR_TARGETS))
def test_cbr_bitrate_within_5_percent(name):
    codec = build(name)
    # MP3 adds a fixed 2-3 frames (encoder delay, padding, flush) per file, which is 7% of a
    # 2.5 s utterance at 8 kbps (72 ms frames): the rate control itself is checked on 10 s.
    seconds = 10.0 if name.startswith("mp3") else 3.0
    wave = probe_signal(codec.sample_rate, seconds)
    enc = codec.encode(wave)
    target = CBR_TARGETS[name]
    assert codec.nominal_bitrate == pytest.approx(target)
    payload_bps = 8 * enc.payload_bytes / seconds
    assert payload_bps == pytest.approx(target, rel=0.05)
    assert token_bitrate(codec, enc.tokens, seconds) == pytest.approx(target, rel=0.05)
    assert payload_bps >= 0.999 * target  # framing overhead is counted, never hidden


def test_codec2_tokens_count_only_real_bits():
    codec = build("codec2-700")  # 28 bits per 40 ms frame: 3 bytes and a 4-bit token
    assert codec.vocab_sizes == (256, 256, 256, 16)
    assert codec.nominal_bitrate == pytest.approx(700.0)
    enc = codec.encode(probe_signal(8000, 2.0))
    assert enc.tokens[-1].max() < 16


def test_opus_packets_are_exactly_cbr():
    codec = build("opus-12k")
    enc = codec.encode(probe_signal(16_000, 1.0))
    n_packets = enc.tokens.shape[1] / codec.packet_bytes
    assert n_packets == int(n_packets) and codec.packet_bytes == 30


# -- our MDCT tokenizer ---------------------------------------------------------------------
@pytest.mark.parametrize("hop", [64, 256, 320])
@pytest.mark.parametrize("n", [1, 999, 16_000])
def test_mdct_perfect_reconstruction(hop, n):
    x = np.random.default_rng(n + hop).standard_normal(n)
    coefs = mdct(x, hop)
    assert coefs.shape == (-(-n // hop) + 1, hop)
    y = imdct(coefs, hop)
    assert len(y) >= n and len(y) - n < hop
    np.testing.assert_allclose(y[:n], x, atol=1e-10)
    # orthonormal lapped transform: energy is preserved
    assert np.sum(coefs**2) == pytest.approx(np.sum(x**2), rel=1e-9)


def test_dct_payload_is_a_real_code_of_the_tokens():
    codec = DCT(DCTConfig(bits=4, keep=32))
    enc = codec.encode(probe_signal(16_000, 2.0))
    packed = pack_tokens(enc.tokens)
    assert len(packed) == enc.payload_bytes
    np.testing.assert_array_equal(unpack_tokens(packed, codec.num_streams), enc.tokens)
    # the sparse preset codes far below its nominal rate
    assert 8 * enc.payload_bytes / 2.0 < 0.5 * codec.nominal_bitrate


def test_dct_keep_limits_nonzero_coefficients():
    codec = DCT(DCTConfig(bits=6, keep=16))
    enc = codec.encode(probe_signal(16_000, 1.0))
    coefs = enc.tokens[codec.num_bands :] - codec.levels
    assert (np.count_nonzero(coefs, axis=0) <= 16).all()
    assert np.count_nonzero(coefs, axis=0).max() > 0


# -- quality does not fall as bitrate rises -------------------------------------------------
@pytest.mark.parametrize("family", list(FAMILIES))
def test_quality_rises_with_bitrate(family, speech):
    from bench.runner import run_codec

    rows = []
    for name in FAMILIES[family]:
        codec = build(name)
        scores, rates = {"pesq_wb": [], "stoi": []}, []
        for wave in speech:
            out, ref = run_codec(codec, wave, 16_000, 0.25)  # resample, decode, align as a run does
            scores["pesq_wb"].append(pesq_score(ref, out.recon, "wb"))
            scores["stoi"].append(stoi_score(ref, out.recon, extended=False))
            rates.append(out.payload_bps or out.token_bps)
        rows.append((name, float(np.mean(rates)), {k: float(np.mean(v)) for k, v in scores.items()}))
    assert all(b[1] > a[1] for a, b in zip(rows, rows[1:])), f"presets not in bitrate order: {rows}"
    for metric, tol in TOLERANCE.items():
        for a, b in zip(rows, rows[1:]):
            assert b[2][metric] >= a[2][metric] - tol, f"{metric} falls from {a} to {b}"
    # and the ladder spans a real range of quality
    assert rows[-1][2]["pesq_wb"] > rows[0][2]["pesq_wb"] + 0.2


# -- MP3 delay handled by the runner's alignment --------------------------------------------
def test_mp3_64k_stoi_after_alignment(tmp_path):
    build("mp3-64k")
    from bench.runner import RunOptions, run

    report = run(RunOptions(codec="mp3-64k", dataset="synth-speech-quick", tasks=("reconstruction",),
                            limit=3, out=str(tmp_path), progress=False))
    record = report.records[0]
    assert record["counts"]["measured"] == 3
    assert record["metrics"]["stoi"]["value"] >= 0.98
    assert record["codec"]["bitrate"]["payload_kbps"]["value"] == pytest.approx(64, rel=0.05)
