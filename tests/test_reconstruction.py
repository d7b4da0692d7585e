import numpy as np
import pytest

from bench.datasets.synthetic import make_signal
from bench.runner import RunOptions, build_codec, run, run_codec
from bench.tasks.base import Failed, ItemContext
from bench.tasks.reconstruction import (SI_SDR_CAP_DB, Reconstruction, mel_l1, pesq_score, si_sdr,
                                        stoi_score)

SPEECHLIKE = make_signal("vowel", 1, seed=5, duration=3.0).wave


def _ctx(ref, deg):
    return ItemContext("x", ref, deg, np.zeros((1, 1), dtype=np.int64), {})


def test_identity_scores_are_the_ceiling():
    m = Reconstruction().measure(_ctx(SPEECHLIKE, SPEECHLIKE.copy())).values
    assert m["pesq_wb"] == pytest.approx(4.64, abs=0.01)
    assert m["pesq_nb"] == pytest.approx(4.55, abs=0.01)
    assert m["stoi"] == pytest.approx(1.0, abs=1e-6) and m["estoi"] == pytest.approx(1.0, abs=1e-6)
    assert m["si_sdr"] == SI_SDR_CAP_DB
    assert m["mel_l1"] == 0.0 and m["mrstft"] == 0.0 and m["mcd"] == 0.0


def test_scores_fall_as_noise_rises():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(len(SPEECHLIKE)).astype(np.float32)
    scores = []
    for level in (1e-5, 1e-4, 3e-4, 1e-3, 3e-3):  # PESQ is erratic at its floor: stay above
        deg = SPEECHLIKE + level * noise
        scores.append((pesq_score(SPEECHLIKE, deg, "wb"), stoi_score(SPEECHLIKE, deg, False),
                       si_sdr(SPEECHLIKE, deg), -mel_l1(SPEECHLIKE, deg)))
    for a, b in zip(scores, scores[1:]):
        assert all(x >= y for x, y in zip(a, b)), scores


def test_failures_have_reasons_not_scores():
    short = SPEECHLIKE[:160]  # 10 ms
    m = Reconstruction().measure(_ctx(short, short)).values
    assert m["pesq_wb"] == Failed("too short for PESQ (< 0.25 s)")
    assert isinstance(m["stoi"], Failed) and "too short" in m["stoi"].reason
    assert isinstance(m["mel_l1"], Failed)
    silent = np.zeros_like(SPEECHLIKE)
    m = Reconstruction().measure(_ctx(SPEECHLIKE, silent)).values
    assert m["pesq_wb"] == Failed("reconstruction is silent")
    assert m["si_sdr"] == Failed("reconstruction is silent")
    m = Reconstruction().measure(_ctx(silent, SPEECHLIKE)).values
    assert m["pesq_wb"] == Failed("reference is silent")


def test_alignment_recovers_a_delay():
    class Delayed:
        pass

    codec = build_codec("identity")
    delayed_decode = codec.decode
    codec.decode = lambda tokens: np.concatenate([np.zeros(1105, np.float32), delayed_decode(tokens)])
    out, ref = run_codec(codec, SPEECHLIKE, 16000, max_lag_s=0.25)
    assert out.lag == 1105
    assert np.array_equal(out.recon, ref)


def test_identity_on_builtin_signals(tmp_path):
    report = run(RunOptions(codec="identity", dataset="synthetic", out=str(tmp_path), progress=False))
    rec = report.records[0]
    assert rec["counts"] == {"requested": 12, "measured": 12, "failed": 0, "failure_reasons": {}, "input_notes": {}}
    assert rec["metrics"]["pesq_wb"]["value"] == pytest.approx(4.644, abs=0.001)
    assert rec["metrics"]["pesq_wb"]["ci_low"] >= 4.62
    assert rec["metrics"]["stoi"]["ci_low"] == pytest.approx(1.0, abs=1e-6)


def test_identity_on_real_speech(realspeech, tmp_path):
    report = run(RunOptions(codec="identity", dataset=f"manifest:path={realspeech}/manifest.jsonl",
                            out=str(tmp_path), progress=False))
    rec = report.records[0]
    assert rec["counts"]["failed"] == 0
    m = rec["metrics"]
    # every item is scored at the ceiling, or fails with a reason (short 8 kHz digits)
    assert m["pesq_wb"]["ci_low"] >= 4.6 and m["pesq_wb"]["n"] + m["pesq_wb"]["n_failed"] == rec["counts"]["measured"]
    assert m["stoi"]["ci_low"] >= 0.999


@pytest.mark.slow
def test_mulaw8_quality_on_real_speech(realspeech, tmp_path):
    report = run(RunOptions(codec="mulaw-8bit", dataset=f"manifest:path={realspeech}/manifest.jsonl",
                            out=str(tmp_path), progress=False))
    m = report.records[0]["metrics"]
    # LJ Speech (22 kHz) items clear 4.0; the 8 kHz digit recordings have an empty upper band
    # (FEASIBILITY.md section 5), so the mean is checked on narrow-band PESQ.
    assert m["pesq_nb"]["value"] >= 4.0


def test_mcd_is_the_sptk_mel_cepstral_distortion():
    """mcd = (10 / ln 10) sqrt(2 sum_{d=1..24} (c_d - c'_d)^2) on SPTK mel-cepstra (mcep, alpha
    0.42), averaged over frames, checked against pysptk called frame by frame here."""
    import math

    import scipy.signal

    from bench.metrics import signal as R

    sptk = R._import_pysptk()
    rng = np.random.default_rng(3)
    x = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    y = scipy.signal.lfilter([1.0], [1.0, -0.6], x).astype(np.float32) * 0.5  # a tilt and a gain
    got = R.mel_cepstral_distortion(x, y)
    win = np.blackman(400)
    frames = [(x[i:i + 400], y[i:i + 400]) for i in range(0, len(x) - 400 + 1, 160)]
    peak = max(float(np.max(np.abs(np.fft.rfft(a * win, 512)) ** 2)) for a, _ in frames)
    eps = peak * 1e-8
    dist = []
    for a, b in frames:
        ca = sptk.mcep(np.pad(a * win, (0, 112)), order=24, alpha=0.42, etype=1, eps=eps)
        cb = sptk.mcep(np.pad(b * win, (0, 112)), order=24, alpha=0.42, etype=1, eps=eps)
        dist.append(10 / math.log(10) * math.sqrt(2 * np.sum((ca[1:] - cb[1:]) ** 2)))
    assert got == pytest.approx(float(np.mean(dist)), rel=1e-9)
    # the gain alone moves only c0, which is left out
    assert R.mel_cepstral_distortion(x, 0.5 * x) == pytest.approx(0.0, abs=0.05)
    specs = {m.name: m for m in Reconstruction.metrics}
    assert "SPTK" in specs["mcd"].description and "no DTW" in specs["mcd"].description
    assert specs["mel_l1"].unit == "log10" and "not ln" in specs["mel_l1"].description
    assert Reconstruction.version == "2"


def test_mcd_reference_cepstra_cached_exactly(tmp_path, monkeypatch):
    """The reference's mel-cepstra are computed once per item and reused for the next
    reconstruction, and the MCD is bit-identical to computing them again."""
    from bench.metrics import signal
    from bench.tasks.reconstruction import mel_cepstral_distortion

    rng = np.random.default_rng(1)
    degs = [SPEECHLIKE + lvl * rng.standard_normal(len(SPEECHLIKE)).astype(np.float32) for lvl in (1e-3, 1e-2)]
    plain = [mel_cepstral_distortion(SPEECHLIKE, d) for d in degs]
    task = Reconstruction()
    task.cache_dir = str(tmp_path / "cache")
    analysed = []
    real = signal.mel_cepstra
    monkeypatch.setattr("bench.tasks.reconstruction.mel_cepstra", lambda f, eps: analysed.append(len(f)) or real(f, eps))
    cached = [task.measure(ItemContext("x", SPEECHLIKE, d, np.zeros((1, 1), dtype=np.int64), {}, item_hash="h1"))
              .values["mcd"] for d in degs]
    assert cached == plain  # exact, not approximately
    assert len(analysed) == 1  # the second reconstruction reused the reference's cepstra


def test_a_chosen_subset_of_metrics_is_all_that_is_computed_and_recorded(tmp_path):
    """``reconstruction:metrics=a+b``: only those are measured and recorded, with their own task
    key; the default keeps the key records had before the option; a wrong name is refused."""
    from bench.config import ConfigError
    from bench.run.options import build_task, task_key

    full, sub = build_task("reconstruction"), build_task("reconstruction:metrics=stoi+pesq_wb")
    assert full.describe()["config"] == {}
    assert task_key(full) == "reconstruction@2#44136fa3"  # the key of the committed records
    assert [m.name for m in sub.metrics] == ["pesq_wb", "stoi"]  # the task's own order
    assert task_key(sub) != task_key(full)
    assert task_key(sub) == task_key(build_task("reconstruction:metrics=pesq_wb+ stoi"))
    every = "+".join(m.name for m in full.metrics)
    assert task_key(build_task(f"reconstruction:metrics={every}")) == task_key(full)  # all eight: the default
    values = sub.measure(_ctx(SPEECHLIKE, SPEECHLIKE.copy())).values
    assert set(values) == {"pesq_wb", "stoi"}
    with pytest.raises(ConfigError, match="unknown metric.*mcd_f0.*choose from"):
        build_task("reconstruction:metrics=pesq_wb+mcd_f0")
    with pytest.raises(ConfigError, match="names no metric"):
        build_task("reconstruction:metrics=+")
    report = run(RunOptions(codec="identity", dataset="synthetic", tasks=("reconstruction:metrics=si_sdr+estoi",),
                            out=str(tmp_path), progress=False))
    assert set(report.records[0]["metrics"]) == {"estoi", "si_sdr"}
