"""probe-audio:features=whisper: the ceiling on Whisper tiny.en encoder states.

The asr extra (faster-whisper, ctranslate2, the bundled tiny.en) is installed by install.sh, so
nothing here skips; encoding costs about half a CPU-second per item (one 30 s window each).
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest

from bench.config import ConfigError
from bench.run.options import build_task, task_key
from bench.store import split_arrays
from bench.tasks.base import Failed, ItemContext, Row
from bench.tasks.learned_probe import (WHISPER_DIM, AudioProbe, AudioProbeConfig, LearnedProbe, recipe_dict,
                                       recipe_hash)

TINY = AudioProbeConfig(features="whisper", steps=60, batch=16, width=16, seeds=2, bootstrap=40, lr=1e-2)
ACCENTS = ["en-us", "en-gb", "en-029"]


def _tone(f0: float, seconds: float, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
    return (0.2 * wave * np.hanning(len(t)) ** 0.2).astype(np.float32)


def test_default_front_end_keeps_the_old_key_and_whisper_changes_it():
    mel = AudioProbe()
    assert mel.config.features == "mel" and "features" not in recipe_dict(mel.config)
    assert mel.config.pool == "mean" and "pool" not in recipe_dict(mel.config)
    # the keys of version 5 (gradient clipping; token embeddings start from co-occurrence, an
    # option the ceiling does not record): options added later are left out at their defaults
    assert task_key(mel) == "probe-audio@5#12d3f916" and recipe_hash(mel.config) == "621a2f71f81fee37"
    assert task_key(LearnedProbe()) == "probe@5#43e2d0ac"
    assert task_key(build_task("probe:init=random")) != task_key(LearnedProbe())
    assert task_key(build_task("probe:pool=meanmax")) != task_key(LearnedProbe())
    whisper = build_task("probe-audio:features=whisper")
    assert whisper.config.features == "whisper" and task_key(whisper) != task_key(mel)
    assert recipe_dict(whisper.config)["features"] == "whisper"
    assert "faster_whisper" in whisper.needs_modules and "faster_whisper" not in mel.needs_modules
    with pytest.raises((ValueError, ConfigError)):
        AudioProbeConfig(features="mfcc")


def test_measure_stores_compact_encoder_frames():
    probe = AudioProbe(TINY)
    probe.load()
    wave = _tone(140.0, 1.3)
    m = probe.measure(ItemContext("a", wave, wave, np.zeros((1, 10), dtype=np.int64), {}))
    n = int(m.values["frames"])
    assert n == 65 and "mel" not in m.extras
    enc = m.extras["enc"]
    assert enc.dtype == np.float16 and enc.size == n * WHISPER_DIM and np.isfinite(enc).all()
    assert np.abs(enc.astype(np.float32)).max() > 0.1  # states, not padding
    again = probe.measure(ItemContext("a", wave, wave, np.zeros((1, 10), dtype=np.int64), {}))
    assert np.array_equal(again.extras["enc"], enc)  # deterministic
    _, arrays = split_arrays(m.extras)
    assert sum(len(zlib.compress(a.tobytes(), 6)) for _, a in arrays) < 60_000  # what the store keeps
    short = probe.measure(ItemContext("b", wave[:800], wave[:800], np.zeros((1, 2), dtype=np.int64), {}))
    assert isinstance(short.values["frames"], Failed)


def _rows_from_frames(planted: bool) -> list[Row]:
    """Rows as probe-audio:features=whisper stores them, 384-d frames with the accent (and F0)
    written into a few dimensions when ``planted``; 6 train and 3 test voices."""
    rng = np.random.default_rng(1)
    rows, n = [], 30
    for spk in range(9):
        split = "train" if spk < 6 else "test"
        for a, accent in enumerate(ACCENTS):
            for sen in range(2):
                sid = f"{split}{sen + 2 * a}"
                for high in (False, True):
                    f0 = np.full(n, (100 + 15 * spk) * (1.6 if high else 1.0), dtype=np.float32)
                    f0[:3] = 0
                    x = rng.standard_normal((n, WHISPER_DIM)).astype(np.float32)
                    if planted:
                        x[:, a] += 3.0
                        x[:, 10:42] = np.where(f0 > 0, np.log2(np.maximum(f0, 1) / 55), 0)[:, None]
                    labels = {"speaker": f"sp{spk}", "accent": accent, "split": split, "sentence_id": sid,
                              "pitch_class": "high" if high else "low", "pair": f"sp{spk}_{accent}_{sid}"}
                    rows.append(Row(f"{spk}_{a}_{sen}_{high}", labels, {},
                                    {"n": n, "f0": f0, "enc": x.astype(np.float16).ravel()}))
    return rows


def test_whisper_frames_feed_the_same_heads():
    out = AudioProbe(TINY).summarize(_rows_from_frames(True), seed=0)
    assert out["accent_acc"].value > 0.9, out["accent_acc"]
    assert out["pitch_pairs_acc"].value > 0.9, out["pitch_pairs_acc"]
    blind = AudioProbe(TINY).summarize(_rows_from_frames(False), seed=0)
    assert blind["accent_acc"].value < 0.75, blind["accent_acc"]
    # a log-mel probe finds no log-mel frames in these rows: failed with a reason, not scored
    mel = AudioProbe(dataclasses.replace(TINY, features="mel")).summarize(_rows_from_frames(True), seed=0)
    assert mel["accent_acc"].value is None and mel["accent_acc"].n_failed > 0


def test_keep_table_reads_accent_from_the_better_front_end():
    from bench.keep import keep_rows, keep_table

    def mv(v, lo, hi):
        return {"value": v, "ci_low": lo, "ci_high": hi}

    def rec(task, metrics, config=None, created="2026-01-01"):
        return {"task": {"name": task, "key": f"{task}#{sorted((config or {}).items())}", "version": "3",
                         "config": config or {"input": "reference"}},
                "codec": {"name": "identity", "config_hash": "c"}, "dataset": {"name": "d", "content_hash": "h"},
                "created": created, "metrics": metrics}

    mel = rec("probe-audio", {"f0_r2": mv(0.86, 0.83, 0.88), "pitch_pairs_acc": mv(1, 1, 1),
                              "accent2_acc": mv(0.52, 0.34, 0.71), "accent_acc": mv(0.21, 0.12, 0.32)})
    whisper = rec("probe-audio", {"f0_r2": mv(0.5, 0.4, 0.6), "pitch_pairs_acc": mv(0.9, 0.8, 1),
                                  "accent2_acc": mv(0.75, 0.6, 0.88), "accent_acc": mv(0.45, 0.35, 0.55)},
                  {"input": "reference", "features": "whisper"})
    shuffled = rec("probe-audio", {"accent2_acc": mv(0.99, 0.98, 1.0)},
                   {"input": "reference", "features": "whisper", "shuffle_labels": True}, created="2027-01-01")
    probe = rec("probe", {"f0_r2": mv(0.2, 0.1, 0.3), "pitch_pairs_acc": mv(0.9, 0.8, 1.0),
                          "accent2_acc": mv(0.5, 0.3, 0.7), "accent_acc": mv(0.17, 0.1, 0.25),
                          "accent_chance": mv(1 / 6, 1 / 6, 1 / 6)})
    (row,) = keep_rows([mel, whisper, shuffled, probe])
    assert row["ceiling_f0_r2"]["value"] == 0.86  # pitch: the log-mel ceiling (Whisper's F0 is lower)
    assert row["ceiling_accent2"]["value"] == 0.75 and row["ceiling_accent2"]["_front"] == "whisper"
    assert row["ceiling_accent"]["value"] == 0.45
    assert row["accent_verdict"] == "no verdict: no ABX record" or "ABX only" not in row["accent_verdict"]
    assert "0.75 [0.60, 0.88] (whisper)" in keep_table([mel, whisper, probe])
    (alone,) = keep_rows([mel, probe])  # without a Whisper record: the log-mel ceiling, as before
    assert alone["ceiling_accent2"]["value"] == 0.52 and alone["ceiling_accent2"]["_front"] == "log-mel"
    assert alone["accent_verdict"] == "no verdict: no ABX record"
    # pitch reads the front end with the best frame-F0 R2 among log-mel and waveform, never Whisper
    wave = rec("probe-audio", {"f0_r2": mv(0.91, 0.89, 0.93), "pitch_pairs_acc": mv(1, 1, 1),
                               "accent2_acc": mv(0.5, 0.3, 0.7), "accent_acc": mv(0.2, 0.1, 0.3)},
               {"input": "reference", "features": "wave"})
    whisper_f0 = rec("probe-audio", {**whisper["metrics"], "f0_r2": mv(0.95, 0.9, 0.97)},
                     {"input": "reference", "features": "whisper"})
    (row,) = keep_rows([mel, wave, whisper_f0, probe])
    assert row["ceiling_f0_r2"]["value"] == 0.91 and row["ceiling_f0_r2"]["_front"] == "waveform"
    assert row["ceiling_pairs"]["_front"] == "waveform" and row["ceiling_accent2"]["_front"] == "whisper"
    assert "0.91 [0.89, 0.93] (waveform)" in keep_table([mel, wave, probe])
    # a ceiling measured on other items (another corpus version) is not this probe's ceiling
    other = {**wave, "dataset": {"name": "d", "content_hash": "other"}}
    (row,) = keep_rows([mel, other, probe])
    assert row["ceiling_f0_r2"]["value"] == 0.86 and row["ceiling_f0_r2"]["_front"] == "log-mel"
