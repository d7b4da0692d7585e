"""Pitch preservation: F0 errors on decoded audio, classifiers trained on originals."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("parselmouth")

from bench.tasks.base import Failed, ItemContext, Row  # noqa: E402
from bench.tasks.pitch import Pitch, f0_stats  # noqa: E402
from bench.metrics.f0 import praat_f0  # noqa: E402
from bench.testing.voices import SR, voice  # noqa: E402


@pytest.fixture(scope="module")
def synth_manifest(tmp_path_factory):
    from bench.testing.voices import write_voices_manifest

    return write_voices_manifest(str(tmp_path_factory.mktemp("voices")), seconds=0.7)


def _ctx(ref, rec, labels=None):
    return ItemContext("x", ref, rec, np.zeros((1, 1), dtype=np.int64), labels or {})


def test_praat_tracks_known_f0():
    wave, truth = voice(120.0, 0, 900.0)
    times, f0 = praat_f0(wave, 50, 600, 0.01)
    truth_at = truth[np.clip((times * SR).astype(int), 0, len(truth) - 1)]
    both = (f0 > 0) & (truth_at > 0)
    assert both.sum() > 40
    cents = 1200 * np.log2(f0[both] / truth_at[both])
    assert np.median(np.abs(cents)) < 10


def test_identity_keeps_f0_and_shift_is_measured():
    task = Pitch()
    task.load()
    wave, _ = voice(110.0, 1, 500.0)
    same = task.measure(_ctx(wave, wave.copy())).values
    assert same["f0_rmse_cents"] == pytest.approx(0.0, abs=1e-6)
    assert same["gpe"] == 0.0 and same["vde"] == 0.0 and same["f0_corr"] == pytest.approx(1.0)
    # a semitone up: RMSE ~100 cents, no gross error; an octave up: all gross errors
    up, _ = voice(110.0 * 2 ** (1 / 12), 1, 500.0)
    v = task.measure(_ctx(wave, up)).values
    assert 80 < v["f0_rmse_cents"] < 120 and v["gpe"] < 0.05
    octave, _ = voice(220.0, 1, 500.0)
    assert task.measure(_ctx(wave, octave)).values["gpe"] > 0.9


def test_failures_are_failed_not_scored():
    task = Pitch()
    short = task.measure(_ctx(np.zeros(400, np.float32), np.zeros(400, np.float32))).values
    assert all(isinstance(v, Failed) and "short" in v.reason for v in short.values())
    noise = (0.05 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32)
    unvoiced = task.measure(_ctx(noise, noise)).values
    assert all(isinstance(v, Failed) and "voiced" in v.reason for v in unvoiced.values())
    wave, _ = voice(110.0, 0, 500.0)
    lost = task.measure(_ctx(wave, np.zeros_like(wave)))
    assert lost.values["vde"] > 0.5
    assert isinstance(lost.values["f0_rmse_cents"], Failed)
    assert lost.extras["rec"]["f0"] is None


def test_f0_stats():
    assert f0_stats(np.zeros(10)) is None
    s = f0_stats(np.array([0, 100.0, 200.0, 0]))
    assert s[0] == pytest.approx(np.log2(np.sqrt(2) * 100)) and s[-1] == 0.5


@pytest.mark.parametrize("codec", ["identity", "mulaw-8bit"])
def test_codec_keeps_pitch_class_end_to_end(tmp_path, synth_manifest, codec):
    from bench.runner import RunOptions, run

    report = run(RunOptions(codec=codec, dataset=f"manifest:path={synth_manifest}", tasks=("pitch",),
                            out=str(tmp_path / "out"), progress=False))
    m = report.records[0]["metrics"]
    assert m["f0_rmse_cents"]["value"] < (1.0 if codec == "identity" else 20.0)
    assert m["f0_rmse_cents"]["n_failed"] == 0
    # the synthetic voices overlap across speakers (a high 85 Hz voice is below a low 190 Hz
    # one), as synth-speech does, so F0 alone does not reach 100% even on originals
    assert m["pitch_acc_orig"]["value"] > 0.6
    assert m["pitch_acc_recon"]["value"] == m["pitch_acc_orig"]["value"]
    assert m["pitch_kept"]["value"] == 1.0
    assert m["accent_kept"]["value"] >= 0.95
    assert m["pitch_chance"]["value"] == pytest.approx(0.5)
    extra = report.records[0]["extra"]
    assert extra["pitch"]["n_test"] > 0 and set(extra["pitch"]["per_class"]) == {"high", "low"}


def test_classifier_needs_split_labels():
    task = Pitch()
    rows = [Row(str(i), {"pitch_class": "low" if i % 2 else "high"}, {},
                {"ref": {"f0": [float(i)] * 6, "mfcc": None}, "rec": {"f0": [float(i)] * 6, "mfcc": None}})
            for i in range(10)]
    out = task.summarize(rows, seed=0)
    assert out["pitch_acc_recon"].value is None and out["pitch_acc_recon"].n_failed == 10
    assert out["accent_acc_orig"].value is None


def test_fine_rmse_and_gross_rate_leave_octave_errors_apart():
    """An octave drop (ratio 0.5, |ratio - 1| exactly 50%) is gross like an octave jump: the fine
    RMSE sees only the small errors, the gross rate counts the octaves."""
    from bench.metrics.f0 import f0_errors

    ref = np.full(100, 100.0)
    rec = ref * 2 ** (10 / 1200)  # +10 cents everywhere
    rec[:5] = 50.0  # octave drop
    rec[5:8] = 200.0  # octave jump
    rec[8:10] = 0.0  # unvoiced in the reconstruction: not in either
    e = f0_errors(ref, rec, gross_error=0.2, fine_limit=0.5)
    assert e["f0_rmse_fine"] == pytest.approx(10.0)
    assert e["f0_gross_rate"] == pytest.approx(8 / 98)
    assert e["f0_rmse_cents"] == pytest.approx(np.sqrt((8 * 1200**2 + 90 * 100) / 98))
    assert e["gpe"] == pytest.approx(8 / 98)
    m = Pitch().measure(_ctx(*[voice(120.0, 0, 900.0)[0]] * 2))
    assert m.values["f0_rmse_fine"] == 0.0 and m.values["f0_gross_rate"] == 0.0


def test_tracker_settings_are_recorded():
    task = Pitch(Pitch.Config(f0_floor=75.0))
    cfg = task.describe()["config"]
    assert cfg["f0_floor"] == 75.0 and cfg["resolved"]["floor_hz"] == 75.0
    assert cfg["resolved"]["ceiling_hz"] == 600.0 and cfg["resolved"]["parselmouth"]
    specs = {m.name: m.description for m in Pitch.metrics}
    assert "50%" in specs["f0_rmse_fine"] and "50%" in specs["f0_gross_rate"] and "20%" in specs["gpe"]


def test_classifier_on_tiny_subset_is_failed():
    """10 items, 5 per split: no accuracy (a 10-item subset read 0.38 against a chance of 0.94)."""
    task = Pitch()
    rng = np.random.default_rng(0)
    rows = [Row(str(i), {"pitch_class": "low" if i % 2 else "high", "accent": "a" if i % 3 else "b",
                         "split": "train" if i < 5 else "test"}, {},
                {"ref": {"f0": list(rng.normal(size=6)), "mfcc": list(rng.normal(size=3))},
                 "rec": {"f0": list(rng.normal(size=6)), "mfcc": list(rng.normal(size=3))}})
            for i in range(10)]
    out = task.summarize(rows, seed=0)
    for name in ("pitch_acc_orig", "pitch_acc_recon", "pitch_kept", "pitch_chance", "accent_acc_recon"):
        assert out[name].value is None, (name, out[name])
        (reason,) = out[name].failures
        assert reason.startswith("too few items: 5 train, 5 test"), reason
