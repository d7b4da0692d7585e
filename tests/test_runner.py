import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from bench.codecs.mulaw import MuLaw
from bench.registry import CODECS, TASKS
from bench.runner import RunOptions, run, select_items
from bench.tasks.base import Measurement, MetricSpec, Task


class CountingMuLaw(MuLaw):
    calls = 0

    def encode(self, wave):
        type(self).calls += 1
        return super().encode(wave)


class PeakTask(Task):
    name = "peak"
    metrics = (MetricSpec("peak_error", "", False),)

    def measure(self, item):
        return Measurement({"peak_error": float(np.max(np.abs(item.reference - item.reconstruction)))})


if "counting-mulaw" not in CODECS:
    CODECS.register("counting-mulaw", f"{__name__}:CountingMuLaw")
    TASKS.register("peak", f"{__name__}:PeakTask")


def _metrics(record):
    return {k: (v["value"], v["ci_low"], v["ci_high"], v["n"]) for k, v in record["metrics"].items()}


def test_second_run_and_new_task_reuse_the_codec_output(tmp_path):
    CountingMuLaw.calls = 0
    opts = RunOptions(codec="counting-mulaw", dataset="synthetic", limit=4, out=str(tmp_path), progress=False)
    first = run(opts)
    assert CountingMuLaw.calls == 4 and first.n_computed == 4
    again = run(opts)
    assert CountingMuLaw.calls == 4 and again.n_computed == 0
    assert _metrics(again.records[0]) == _metrics(first.records[0])
    both = run(RunOptions(**{**opts.__dict__, "tasks": ("reconstruction", "peak")}))
    assert CountingMuLaw.calls == 4, "adding a task must not re-run the codec"
    assert both.n_computed == 4 and len(both.records) == 2
    assert both.records[1]["metrics"]["peak_error"]["n"] == 4


def test_limit_is_a_seeded_subset():
    items = list(range(50))
    a = select_items(items, 10, seed=1)
    assert a == select_items(items, 10, seed=1) and a != select_items(items, 10, seed=2)
    assert a == sorted(a) and len(set(a)) == 10


@pytest.mark.slow
def test_workers_give_the_same_numbers(tmp_path):
    one = run(RunOptions(codec="mulaw-4bit", dataset="synthetic", limit=6, out=str(tmp_path / "a"), progress=False))
    two = run(RunOptions(codec="mulaw-4bit", dataset="synthetic", limit=6, out=str(tmp_path / "b"),
                         workers=2, progress=False))
    # equal up to float summation order (BLAS threads differ between the two set-ups)
    a, b = _metrics(one.records[0]), _metrics(two.records[0])
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-9), k


def _rows(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*), COUNT(DISTINCT item_hash) FROM task_rows").fetchone()


@pytest.mark.slow
def test_sigkill_then_resume_gives_identical_numbers(tmp_path):
    args = [sys.executable, "-m", "bench", "run", "--codec", "mulaw-4bit", "--dataset", "synthetic",
            "--task", "reconstruction", "--no-progress"]
    ref_dir, killed_dir = tmp_path / "ref", tmp_path / "killed"
    subprocess.run(args + ["--out", str(ref_dir)], check=True, capture_output=True)
    db = killed_dir / "bench.sqlite"
    proc = subprocess.Popen(args + ["--out", str(killed_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    done_at_kill = 0
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                done_at_kill = _rows(db)[0]
            except sqlite3.OperationalError:
                done_at_kill = 0
            if done_at_kill >= 3:
                os.kill(proc.pid, signal.SIGKILL)
                break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert 3 <= _rows(db)[0] < 12
    assert not list((killed_dir / "results").glob("*.json")) if (killed_dir / "results").exists() else True
    subprocess.run(args + ["--out", str(killed_dir)], check=True, capture_output=True)
    assert _rows(db) == (12, 12), "an item was lost or counted twice"
    ref = json.loads(next((ref_dir / "results").glob("*.json")).read_text())
    resumed = json.loads(next((killed_dir / "results").glob("*.json")).read_text())
    assert resumed["counts"] == ref["counts"]
    assert _metrics(resumed) == _metrics(ref)


def test_record_has_provenance(tmp_path):
    rec = run(RunOptions(codec="mulaw-4bit", dataset="synthetic", limit=2, out=str(tmp_path), progress=False)).records[0]
    assert rec["schema_version"] == 2
    assert rec["codec"]["config"] == {"bits": 4, "sample_rate": 16000} and len(rec["codec"]["config_hash"]) == 16
    assert rec["task"]["name"] == "reconstruction" and rec["task"]["version"] == "2"
    assert rec["dataset"]["name"] == "synthetic" and len(rec["dataset"]["content_hash"]) == 64
    assert rec["seed"] == 0 and rec["limit"] == 2
    assert {"numpy", "pesq", "pystoi"} <= set(rec["provenance"]["packages"])
    assert rec["codec"]["bitrate"]["token_kbps"]["value"] == pytest.approx(64.0)
    assert "git_commit" in rec["provenance"]


class BusyTask(Task):
    """Spends a known amount of CPU in measure (a busy loop), for the CPU accounting."""

    name = "busy"
    metrics = (MetricSpec("spun", "", True),)

    def measure(self, item):
        t = time.process_time()
        while time.process_time() - t < 0.05:
            pass
        return Measurement({"spun": 1.0})


if "busy" not in TASKS:
    TASKS.register("busy", f"{__name__}:BusyTask")


def test_cpu_accounting(tmp_path):
    """A run counts its CPU: the tasks' measurements (stored per row and in the record), the
    codec stages, and the chunk totals they are part of; an older store gains the column."""
    db = tmp_path / "bench.sqlite"
    with sqlite3.connect(db) as conn:  # a store from before the cpu_seconds column
        conn.execute("CREATE TABLE task_rows (codec_hash TEXT NOT NULL, item_hash TEXT NOT NULL, task_key TEXT "
                     "NOT NULL, item_id TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, extras TEXT, seconds REAL, "
                     "created REAL NOT NULL, PRIMARY KEY (codec_hash, item_hash, task_key))")
    rep = run(RunOptions(codec="mulaw-8bit", dataset="synthetic", limit=3, tasks=("busy",), out=str(tmp_path),
                         progress=False))
    cpu = rep.cpu
    assert cpu["measure"] >= 3 * 0.05 - 1e-6, cpu  # three items, 50 ms of CPU each
    assert 0 < cpu["codec"] and cpu["codec"] + cpu["measure"] <= cpu["chunk"] + 1e-6, cpu
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT cpu_seconds FROM task_rows").fetchall()
    assert len(rows) == 3 and all(r[0] >= 0.05 - 1e-6 for r in rows)
    timing = rep.records[0]["timing"]
    assert timing["task_cpu_seconds"] >= 0.15 - 1e-3 and timing["summary_cpu_seconds"] >= 0
    assert {"encode_cpu", "decode_cpu"} <= set(timing["codec_seconds"])


def test_chunks_leave_no_worker_idle():
    from bench.runner import chunk_jobs

    jobs = list(range(10))
    assert [len(c) for c in chunk_jobs(jobs, 8, 2)] == [5, 5]  # not 8 + 2
    assert [len(c) for c in chunk_jobs(jobs, 1, 2)] == [1] * 10
    assert [len(c) for c in chunk_jobs(jobs, 4, 1)] == [4, 4, 2]
    assert sum(chunk_jobs(list(range(7)), 8, 3), []) == list(range(7))
