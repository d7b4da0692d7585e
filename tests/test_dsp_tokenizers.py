"""The training-free DSP tokenizers: dMel-style quantized log-mel bands and WORLD parameters.

Conformance for one preset of each, the declared bitrates, what the tokens mean (a band's level
follows its energy; the F0 stream carries the probe's pitch), quality that rises with the
number of levels, and the world codec reporting itself unavailable without pyworld.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from bench.codecs import CODECS
from bench.codecs.base import MissingDependency
from bench.metrics.signal import stoi_score
from bench.testing import CONFORMANCE_CHECKS, probe_signal


def build(name: str):
    codec = CODECS.build(name, {})
    try:
        codec.load()
    except MissingDependency as exc:
        pytest.skip(str(exc))
    return codec


@pytest.mark.parametrize("check", CONFORMANCE_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", ["dmel-80x4", "world-5.3k"])
def test_conformance(name, check):
    check(build(name))


@pytest.mark.parametrize("name,kbps", [("dmel-80x4", 10.0), ("dmel-80x8", 15.0), ("dmel-80x16", 20.0),
                                       ("world-3k", 3.0), ("world-5.3k", 5.3), ("world-8.4k", 8.4)])
def test_declared_bitrate_matches_name(name, kbps):
    codec = CODECS.build(name, {})
    assert round(codec.nominal_bitrate / 1000, 1) == kbps
    assert f"{kbps:g} kbps" in CODECS.get(name).description


def test_dmel_levels_follow_band_energy():
    codec = build("dmel-80x16")
    t = np.arange(16000) / 16000
    loud, quiet = (a * np.sin(2 * np.pi * 1000 * t).astype(np.float32) for a in (0.05, 0.0005))
    k = int(np.argmax(codec.encode(loud).tokens[:, 10:-10].mean(axis=1)))
    assert 20 < k < 40  # 1 kHz sits in the lower third of 80 mel bands up to 8 kHz
    hi, lo = codec.encode(loud).tokens[k, 10:-10], codec.encode(quiet).tokens[k, 10:-10]
    # 40 dB less energy = 40 / 5 = 8 levels of 5 dB fewer
    assert np.all(hi - lo == 8), (hi[:5], lo[:5])
    assert codec.encode(np.zeros(8000, np.float32)).tokens.max() == 0  # silence: level 0 everywhere


def test_world_f0_stream_carries_the_pitch():
    codec = build("world-5.3k")
    wave = probe_signal(16000, 1.3)  # 140 Hz +- 5% vibrato, raised-cosine envelope
    f0_tok = codec.encode(wave).tokens[0]
    voiced = f0_tok > 0
    assert voiced.mean() > 0.5
    f0 = 50.0 * 2 ** ((f0_tok[voiced] - 1) * 50 / 1200)
    assert 125 < np.median(f0) < 155, np.median(f0)
    # decoding then re-encoding keeps the F0 tokens on the same half-semitone grid (within one step)
    again = codec.encode(codec.decode(codec.encode(wave).tokens)).tokens[0]
    both = voiced[: len(again)] & (again[: len(voiced)] > 0)
    assert both.mean() > 0.4
    assert np.median(np.abs(again[: len(voiced)][both] - f0_tok[: len(again)][both])) <= 1


@pytest.fixture(scope="module")
def sentence():
    from bench.datasets import DATASETS

    try:
        return DATASETS.build("synth-speech-quick", {}).items()[0].load().wave
    except Exception as exc:  # corpus files missing from this checkout
        pytest.skip(f"synth-speech corpus unavailable: {exc}")


@pytest.mark.parametrize("family", [["dmel-80x4", "dmel-80x16"], ["world-3k", "world-8.4k"]])
def test_more_bits_do_not_lower_stoi(family, sentence):
    scores = []
    for name in family:
        codec = build(name)
        out = codec.decode(codec.encode(sentence).tokens)
        n = min(len(out), len(sentence))
        scores.append(stoi_score(sentence[:n], out[:n], False))
    assert scores[0] <= scores[1] + 0.005, scores
    assert scores[0] > 0.5, scores  # intelligible at all: far above what noise scores


def test_world_unavailable_without_pyworld(monkeypatch):
    from bench.cli import _unavailable

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyworld" else real(name, *a))
    reason = _unavailable(CODECS.get("world-5.3k"))
    assert reason and "pyworld" in reason and "bench[world]" in reason
    assert _unavailable(CODECS.get("dmel-80x4")) is None
