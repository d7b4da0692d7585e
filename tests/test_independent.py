"""bench's numbers against a plain script that calls the reference libraries directly.

The regression gate compares bench with its own earlier output; this test does not: it encodes
with the textbook mu-law formula in numpy and scores with ``pesq``, ``pystoi`` and the SI-SDR
formula, item by item, and requires bench's stored per-item values to match.
"""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest
import soundfile as sf

from bench.runner import RunOptions, run


def _mulaw(x: np.ndarray, bits: int) -> np.ndarray:
    mu = 2 ** bits - 1
    x = np.clip(x.astype(np.float64), -1, 1)
    q = np.round((np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu) + 1) / 2 * mu)
    c = q / mu * 2 - 1
    return (np.sign(c) * np.expm1(np.abs(c) * np.log1p(mu)) / mu).astype(np.float32)


def _si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    # Le Roux et al. (2019): zero-mean signals
    ref, est = ref.astype(np.float64) - ref.mean(), est.astype(np.float64) - est.mean()
    target = np.dot(est, ref) / np.dot(ref, ref) * ref
    return float(10 * np.log10(np.dot(target, target) / np.sum((est - target) ** 2)))


def test_bench_matches_a_plain_script_item_by_item(tmp_path):
    from pesq import pesq
    from pystoi import stoi

    rep = run(RunOptions(codec="mulaw-4bit", dataset="synth-speech-quick", limit=3, tasks=("reconstruction",),
                         out=str(tmp_path), progress=False))
    key = rep.records[0]["run"]["key"]
    with sqlite3.connect(os.path.join(tmp_path, "bench.sqlite")) as conn:
        stored = {}
        for item, metric, value in conn.execute(
                "SELECT t.item_id, m.metric, m.value FROM metric_values m JOIN task_rows t "
                "USING (codec_hash, item_hash, task_key) WHERE m.codec_hash=?", (key,)):
            stored.setdefault(item, {})[metric] = value
    from bench.datasets import DATASETS

    items = {it.id: it for it in DATASETS.build("synth-speech-quick", {}).items()}
    assert len(stored) == 3
    for item_id, values in stored.items():
        ref, sr = sf.read(items[item_id].path, dtype="float32")
        assert sr == 16000
        deg = _mulaw(ref, 4)  # same rate, no delay: no resampling or alignment involved
        assert values["pesq_wb"] == pytest.approx(pesq(16000, ref.astype(np.float64), deg.astype(np.float64), "wb"), abs=1e-6)
        assert values["pesq_nb"] == pytest.approx(pesq(16000, ref.astype(np.float64), deg.astype(np.float64), "nb"), abs=1e-6)
        assert values["stoi"] == pytest.approx(stoi(ref.astype(np.float64), deg.astype(np.float64), 16000), abs=1e-6)
        assert values["estoi"] == pytest.approx(
            stoi(ref.astype(np.float64), deg.astype(np.float64), 16000, extended=True), abs=1e-6)
        assert values["si_sdr"] == pytest.approx(_si_sdr(ref, deg), abs=1e-4)
