"""The metrics layer as pure functions: known values, failure reasons, and the statistics module
(intervals that cover, failures counted by reason, and estimators that draw exactly what the
tasks drew before the layer existed, so committed numbers do not move)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.metrics import signal, stats
from bench.metrics.f0 import f0_errors, voicing_decision_error
from bench.metrics.speaker import Trial, build_trials, cosine, equal_error_rate
from bench.tasks.base import Failed, MetricSpec, Row

SR = 16000


def _speechlike(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """A voiced-speech stand-in PESQ accepts: a 150 Hz pulse train through a formant filter,
    syllable-rate amplitude modulation, a little noise."""
    import scipy.signal

    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    pulses = np.zeros(n)
    pulses[:: SR // 150] = 1.0
    b, a = scipy.signal.butter(2, [300 / (SR / 2), 3000 / (SR / 2)], btype="band")
    x = scipy.signal.lfilter(b, a, pulses) * (0.55 + 0.45 * np.sin(2 * np.pi * 3.0 * t))
    x = x + 0.002 * rng.standard_normal(n)
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)


# -- signal ---------------------------------------------------------------------------------------
def test_stoi_pair_equals_pystoi_run_twice():
    """STOI and ESTOI in one pass give pystoi's values (to 1e-12) and its failures."""
    rng = np.random.default_rng(3)
    x = _speechlike(2.5, seed=1)
    for deg in (x, x + 0.05 * rng.standard_normal(len(x)).astype(np.float32), 0.5 * np.roll(x, 40),
                np.clip(3 * x, -0.3, 0.3), _speechlike(2.5, seed=2)):
        s, e = signal.stoi_pair(x, deg)
        assert s == pytest.approx(signal.stoi_score(x, deg, extended=False), abs=1e-12, rel=0)
        assert e == pytest.approx(signal.stoi_score(x, deg, extended=True), abs=1e-12, rel=0)
    # one second of voice in 3 s of silence: pystoi's too-few-frames case; and a too-short item
    quiet = np.concatenate([np.zeros(SR), _speechlike(0.2), np.zeros(SR)]).astype(np.float32)
    for a in (quiet, x[:4000]):
        both = signal.stoi_pair(a, a)
        assert both[0] == signal.stoi_score(a, a, extended=False) == both[1] == signal.stoi_score(a, a, extended=True)
        assert isinstance(both[0], Failed)


def test_identical_signals_score_the_ceilings():
    x = _speechlike()
    assert signal.pesq_score(x, x, "wb") == pytest.approx(4.644, abs=1e-3)
    assert signal.pesq_score(x, x, "nb") == pytest.approx(4.549, abs=1e-3)
    assert signal.stoi_score(x, x, extended=False) == pytest.approx(1.0, abs=1e-6)
    assert signal.stoi_score(x, x, extended=True) == pytest.approx(1.0, abs=1e-6)
    assert signal.si_sdr(x, x) == signal.SI_SDR_CAP_DB
    assert signal.mel_l1(x, x) == 0.0 and signal.mrstft(x, x) == 0.0


def test_identical_signals_mcd_is_zero():
    from bench.codecs.base import MissingDependency

    try:
        signal._import_pysptk()
    except MissingDependency:
        pytest.skip("pysptk is not installed")
    x = _speechlike()
    assert signal.mel_cepstral_distortion(x, x) == 0.0
    # a gain moves only c0, which MCD leaves out
    assert signal.mel_cepstral_distortion(x, 0.5 * x) == pytest.approx(0.0, abs=0.05)


def test_known_offsets():
    rng = np.random.default_rng(1)
    s = rng.standard_normal(SR)
    s -= s.mean()
    n = rng.standard_normal(SR)
    n -= n.mean()
    n -= (n @ s) / (s @ s) * s  # orthogonal to s, so SI-SDR is exactly the energy ratio
    n *= np.sqrt((s @ s) / (n @ n)) / 10.0  # 20 dB below
    assert signal.si_sdr(s, s + n) == pytest.approx(20.0, abs=1e-9)
    assert signal.si_sdr(s, 3.0 * (s + n)) == pytest.approx(20.0, abs=1e-9)  # scale-invariant
    # ten times the amplitude: log10 mel magnitudes one apart wherever both are above the floor
    x = (0.05 * rng.standard_normal(SR)).astype(np.float32)
    assert signal.mel_l1(x, 10 * x) == pytest.approx(1.0, abs=1e-4)


def test_spectra_are_shared_and_give_the_same_numbers():
    x = _speechlike(1.0)
    y = (x + 0.01 * np.random.default_rng(2).standard_normal(len(x))).astype(np.float32)
    sx, sy = signal.Spectra(x), signal.Spectra(y)
    assert signal.mel_l1(sx, sy) == signal.mel_l1(x, y)
    assert signal.mrstft(sx, sy) == signal.mrstft(x, y)
    assert set(sx._mag) == {512, 1024, 2048}


def test_signal_failure_reasons():
    x = _speechlike(1.0)
    silent = np.zeros_like(x)
    assert signal.pesq_score(x[:1000], x[:1000], "wb") == Failed("too short for PESQ (< 0.25 s)")
    assert signal.pesq_score(silent, x, "wb") == Failed("reference is silent")
    assert signal.pesq_score(x, silent, "nb") == Failed("reconstruction is silent")
    assert signal.stoi_score(x[:4000], x[:4000], extended=False).reason.startswith("too short for STOI")
    assert signal.si_sdr(silent, x) == Failed("reference is silent")
    assert signal.si_sdr(x, silent) == Failed("reconstruction is silent")
    assert signal.mel_l1(x[:1000], x[:1000]) == Failed("too short for mel distance (< 1024 samples)")
    assert signal.mrstft(x[:2000], x[:2000]) == Failed("too short for multi-resolution STFT (< 2048 samples)")
    assert signal.mrstft(silent, x) == Failed("reference is silent")
    assert signal.mel_cepstral_distortion(x[:100], x[:100]) == Failed("too short for MCD (< 400 samples)")
    assert signal.mel_cepstral_distortion(silent, x) == Failed("reference is silent")


def test_long_pesq_is_the_duration_weighted_mean_of_segments(monkeypatch):
    """Items longer than PESQ_MAX_SEGMENT_S are cut into equal segments scored alone."""
    seen = []

    def fake(ref, deg, mode):
        seen.append(len(ref))
        return Failed("PESQ found no utterance") if len(seen) == 2 else float(len(seen))

    monkeypatch.setattr(signal, "_pesq_once", fake)
    n = int(2.5 * signal.PESQ_MAX_SEGMENT_S * SR)  # three segments
    x = np.zeros(n, np.float32)
    assert signal.pesq_score(x, x, "wb") == pytest.approx((1.0 + 3.0) / 2)  # the failed one left out
    assert len(seen) == 3 and sum(seen) == n
    seen.clear()
    monkeypatch.setattr(signal, "_pesq_once", lambda r, d, m: Failed("no"))
    assert signal.pesq_score(x, x, "wb") == Failed("PESQ failed on all 3 segments (no)")


# -- F0 -------------------------------------------------------------------------------------------
def test_f0_errors_of_a_known_offset():
    rng = np.random.default_rng(0)
    ref = 120.0 * 2 ** rng.uniform(-0.5, 0.5, 200)
    ref[::10] = 0.0  # unvoiced frames
    rec = ref * 2 ** (100 / 1200)  # 100 cents sharp everywhere
    e = f0_errors(ref, rec)
    assert e["f0_rmse_cents"] == pytest.approx(100.0) and e["f0_rmse_fine"] == pytest.approx(100.0)
    assert e["f0_gross_rate"] == 0.0 and e["gpe"] == 0.0 and e["f0_corr"] == pytest.approx(1.0)
    octave = ref * 2.0
    o = f0_errors(ref, octave)
    assert o["f0_gross_rate"] == 1.0 and o["gpe"] == 1.0
    assert o["f0_rmse_fine"] == Failed("every frame voiced in both is more than 50% off")
    assert voicing_decision_error(ref, rec) == 0.0
    half = rec.copy()
    half[1::2] = 0.0
    assert voicing_decision_error(ref, half) == pytest.approx(np.mean((ref > 0) & (np.arange(200) % 2 == 1)))


def test_f0_failure_reasons():
    assert f0_errors(np.zeros(10), np.ones(10))["gpe"] == Failed(
        "fewer than 2 frames voiced in both original and reconstruction")
    flat = np.full(10, 100.0)
    assert f0_errors(flat, flat)["f0_corr"] == Failed("F0 is constant on the frames voiced in both")


def test_praat_tracks_a_tone():
    pytest.importorskip("parselmouth")
    from bench.metrics.f0 import praat_f0

    t = np.arange(SR) / SR
    times, f0 = praat_f0(0.3 * np.sin(2 * np.pi * 200.0 * t), 50.0, 600.0, 0.01)
    assert len(times) == len(f0) > 80
    assert np.median(f0[f0 > 0]) == pytest.approx(200.0, rel=1e-3)


# -- text -----------------------------------------------------------------------------------------
def test_text_metrics():
    pytest.importorskip("jiwer")
    pytest.importorskip("whisper_normalizer")
    from bench.metrics.text import (char_error_rate, error_counts, errors, is_repetitive, normalize,
                                    reference_words, word_error_rate)

    assert normalize("  Hello,   World!  ") == "hello world"
    c = error_counts(normalize("The cat sat on the mat."), normalize("the cat sat on a hat today"))
    assert (c["ref_words"], c["sub"], c["del"], c["ins"], c["hits"]) == (6, 2, 0, 1, 4)
    assert errors(c) == 3 and word_error_rate(c) == pytest.approx(50.0)
    same = error_counts("a b c", "a b c")
    assert word_error_rate(same) == 0.0 and char_error_rate(same) == 0.0
    assert is_repetitive("thank you " * 20) and not is_repetitive("The cat sat on the mat.")
    assert not is_repetitive("")
    assert reference_words("(an aside) yes.")["shortened"]


# -- speaker --------------------------------------------------------------------------------------
def test_cosine_and_eer():
    assert cosine(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == pytest.approx(1.0)
    assert cosine(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(0.0)
    assert math.isnan(cosine(np.zeros(2), np.ones(2)))
    labels = np.array([1, 1, 1, 0, 0, 0])
    assert equal_error_rate(np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1]), labels) == 0.0
    assert equal_error_rate(np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]), labels) == 1.0
    # one target below one non-target of three each: miss = false alarm = 1/3 at the crossing
    assert equal_error_rate(np.array([0.9, 0.8, 0.4, 0.5, 0.2, 0.1]), labels) == pytest.approx(1 / 3)
    assert equal_error_rate(np.array([0.5, 0.4]), np.array([1, 1])) is None


def test_trials_are_deterministic_and_balanced():
    speakers = {f"{s}{i}": s for s in "abcd" for i in range(3)}
    t1 = build_trials(speakers, seed=0, targets=5, impostors=2)
    assert t1 == build_trials(dict(reversed(list(speakers.items()))), seed=0, targets=5, impostors=2)
    assert all(isinstance(t, Trial) and t.enrol != t.test for t in t1)
    assert sum(t.target for t in t1) == 12 * 2 and sum(not t.target for t in t1) == 12 * 2
    assert all((speakers[t.enrol] == speakers[t.test]) == t.target for t in t1)


# -- statistics -----------------------------------------------------------------------------------
def _old_mean_ci(values, seed, n_boot=2000, level=0.95):
    """The estimator summarize_metric used before bench.metrics.stats (copied verbatim)."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[idx].mean(axis=1)
    alpha = (1 - level) / 2
    return (float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)))


def _old_ratio_ci(num, den, seed, n_boot=2000):
    """The estimator asr's corpus_rate used before (copied verbatim)."""
    rng = np.random.default_rng(seed)
    n = len(num)
    idx = rng.integers(0, n, size=(n_boot, n))
    rates = 100.0 * num[idx].sum(axis=1) / np.maximum(den[idx].sum(axis=1), 1e-12)
    return float(np.quantile(rates, 0.025)), float(np.quantile(rates, 0.975))


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_bootstrap_draws_exactly_what_the_tasks_drew(seed):
    rng = np.random.default_rng(100 + seed)
    values = rng.normal(3.0, 1.0, 23)
    assert stats.bootstrap_ci(values, seed) == _old_mean_ci(values, seed)
    num, den = rng.integers(0, 9, 17).astype(float), rng.integers(3, 20, 17).astype(float)
    assert stats.ratio_interval(num, den, seed, scale=100.0, min_den=1e-12) == _old_ratio_ci(num, den, seed)
    # drawn row by row (the speaker EER's grouped bootstrap) or as one matrix: the same resamples
    vec = stats.bootstrap_interval(lambda idx: values[idx].mean(axis=1), len(values), seed, 300)
    rows = stats.bootstrap_interval(lambda row: float(values[row].mean()), len(values), seed, 300,
                                    per_replicate=True)
    assert vec == pytest.approx(rows, abs=1e-12)


def test_bootstrap_interval_covers_and_handles_small_samples():
    rng = np.random.default_rng(0)
    values = rng.normal(10.0, 2.0, 200)
    lo, hi = stats.bootstrap_ci(values, seed=0)
    assert lo < values.mean() < hi and lo < 10.0 < hi and hi - lo < 1.0
    assert all(math.isnan(v) for v in stats.bootstrap_ci([], seed=0))
    assert stats.bootstrap_ci([4.2], seed=0) == (4.2, 4.2)
    # undefined replicates are left out; none defined: no interval
    assert stats.bootstrap_interval(lambda row: None, 5, seed=0, n_boot=10, per_replicate=True) is None
    assert stats.percentile_interval([1.0, 2.0, 3.0, 4.0, 5.0]) == (1.1, 4.9)
    assert stats.TAILS_95 == (0.025, 0.975) and stats.tails(0.95)[0] == (1 - 0.95) / 2


def test_tally_counts_failures_by_reason():
    rows = [
        Row("a", {}, {"m": 1.0}, {}),
        Row("b", {}, {"m": Failed("too short")}, {}),
        Row("c", {}, {"m": Failed("too short")}, {}),
        Row("d", {}, {}, {}),
        Row("e", {}, {}, {}, failure="codec crashed"),
        Row("f", {}, {"m": 3.0}, {}),
    ]
    measured, values, failures = stats.tally(rows, "m")
    assert [r.item_id for r in measured] == ["a", "f"] and values == [1.0, 3.0]
    assert failures == {"codec crashed": 1, "not measured": 1, "too short": 2}
    assert list(failures) == sorted(failures)

    from bench.tasks.base import summarize_metric

    mv = summarize_metric(MetricSpec("m", "", True), rows, seed=0)
    assert mv.value == 2.0 and mv.n == 2 and mv.n_failed == 4 and mv.failures == failures
    assert mv.ci_low <= mv.value <= mv.ci_high
