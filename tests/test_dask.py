"""The Dask executor (issue #22): same numbers as a local run, workers killed mid-run, a
poisoned item, the driver killed and resumed. Every run here starts a LocalCluster of two
single-threaded worker processes on 127.0.0.1."""

from __future__ import annotations

import glob
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import child_pids
import soundfile as sf

from bench.codecs.base import MissingDependency
from bench.registry import CODECS
from bench.runner import RunError, RunOptions, run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _register_fault() -> None:
    if "fault" not in [e.name for e in CODECS.entries()]:
        CODECS.register("fault", "bench.testing.faults:FaultCodec", description="fault injection (tests only)")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))}


def _rows(db) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*), COUNT(DISTINCT item_hash) FROM task_rows").fetchone()


def _store(db) -> dict[str, list]:
    with sqlite3.connect(db) as conn:
        return {
            "metrics": conn.execute("SELECT item_hash, task_key, metric, value, failure FROM metric_values "
                                    "ORDER BY item_hash, task_key, metric").fetchall(),
            "outputs": conn.execute("SELECT item_hash, status, tokens, tokens_shape, recon, lag, token_bps "
                                    "FROM codec_outputs ORDER BY item_hash").fetchall(),
            "tasks": conn.execute("SELECT item_hash, task_key, status, reason FROM task_rows "
                                  "ORDER BY item_hash, task_key").fetchall(),
        }


def _worker_pids() -> list[int]:
    """Dask worker processes of this test process (LocalCluster spawns them as children)."""
    return child_pids(os.getpid(), b"spawn_main")


def test_options_and_a_missing_dask(monkeypatch):
    assert RunOptions(codec="x").executor_kind() == "inprocess"
    assert RunOptions(codec="x", workers=2).executor_kind() == "process"
    assert RunOptions(codec="x", scheduler="tcp://127.0.0.1:8786").executor_kind() == "dask"
    for bad in (dict(executor="spark"), dict(executor="process", scheduler="tcp://127.0.0.1:1"),
                dict(executor="dask", scheduler="127.0.0.1"), dict(executor="dask", timeout=5.0),
                dict(executor="dask", isolate=False), dict(executor="inprocess", workers=2)):
        with pytest.raises(RunError):
            RunOptions(codec="x", **bad).validate()
    from bench.cli import build_parser

    args = build_parser().parse_args(["run", "-c", "mulaw-4bit", "--executor", "dask", "--scheduler", "tcp://h:1"])
    assert (args.executor, args.scheduler) == ("dask", "tcp://h:1")
    from bench.run import dask_executor

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingDependency, match=r"bench\[dask\]"):
        dask_executor.DaskExecutor(None, {}, None, 1)


@pytest.mark.slow
def test_dask_gives_the_local_numbers(tmp_path):
    common = dict(codec="mulaw-4bit", dataset="synthetic", tasks=("reconstruction",), progress=False)
    local = run(RunOptions(**common, out=str(tmp_path / "local"), executor="inprocess"))
    dask = run(RunOptions(**common, out=str(tmp_path / "dask"), executor="dask", workers=2))
    a, b = local.records[0], dask.records[0]
    assert a["metrics"] == b["metrics"]  # bit-identical: values, intervals, counts
    assert a["codec"]["bitrate"] == b["codec"]["bitrate"] and a["counts"] == b["counts"]
    assert b["run"]["executor"] == "dask" and a["run"]["key"] == b["run"]["key"]
    assert _store(tmp_path / "local" / "bench.sqlite") == _store(tmp_path / "dask" / "bench.sqlite")
    again = run(RunOptions(**common, out=str(tmp_path / "dask"), executor="dask", workers=2))
    assert again.n_computed == 0 and again.records[0]["metrics"] == a["metrics"]


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_and_repeats_nothing(tmp_path):
    db = tmp_path / "bench.sqlite"
    killed: list[tuple[int, int]] = []

    done = threading.Event()

    def killer() -> None:
        # no clock: kill as soon as both workers run and the first item is written, however
        # slowly a loaded machine gets there
        while not done.is_set():
            try:
                n = _rows(db)[0] if db.exists() else 0
            except sqlite3.OperationalError:
                n = 0
            pids = _worker_pids()
            if n >= 1 and len(pids) == 2:
                os.kill(pids[0], signal.SIGKILL)
                killed.append((pids[0], n))
                return
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        rep = run(RunOptions(codec="mulaw-4bit", dataset="synth-speech-quick", tasks=("reconstruction",),
                             out=str(tmp_path), progress=False, executor="dask", workers=2))
    finally:
        done.set()
    thread.join(timeout=5)
    assert killed, "no worker was killed"
    pid, rows_at_kill = killed[0]
    assert rows_at_kill < 40, "the run was nearly over when the worker was killed"
    assert _rows(db) == (48, 48), "an item was lost or counted twice"
    counts = rep.records[0]["counts"]
    assert (counts["measured"], counts["failed"]) == (48, 0), counts
    assert not os.path.exists(f"/proc/{pid}/stat") or "Z" in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1][:3]


@pytest.mark.slow
def test_a_poisoned_item_is_recorded_as_failed(tmp_path):
    _register_fault()
    files = sorted(glob.glob(os.path.join(REPO, "bench", "data", "synth_speech", "audio", "*.flac")))[:5]
    rows, poison = [], 24_007
    for i, f in enumerate(files):
        wave = sf.read(f, dtype="float32")[0]
        n = poison if i == 2 else len(wave) - i  # distinct lengths; item 2 segfaults the codec
        sf.write(tmp_path / f"a{i}.wav", wave[:n], 16_000, subtype="PCM_16")
        rows.append({"path": f"a{i}.wav", "id": f"a{i}"})
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rep = run(RunOptions(codec=f"fault:faults={poison}:segfault", dataset=f"manifest:path={tmp_path / 'm.jsonl'}",
                         tasks=("reconstruction",), out=str(tmp_path / "out"), progress=False,
                         executor="dask", workers=2))
    counts = rep.records[0]["counts"]
    assert (counts["measured"], counts["failed"]) == (4, 1), counts
    (reason,) = counts["failure_reasons"]
    assert "KilledWorker" in reason and "2 times" in reason, reason
    tasks = _store(tmp_path / "out" / "bench.sqlite")["tasks"]
    assert len(tasks) == 5 and sorted(s for _, _, s, _ in tasks) == ["failed"] + ["ok"] * 4


@pytest.mark.slow
def test_the_driver_killed_then_resumed(tmp_path):
    args = [sys.executable, "-m", "bench", "run", "--codec", "mulaw-4bit", "--dataset", "synthetic",
            "--task", "reconstruction", "--executor", "dask", "--workers", "2", "--no-progress", "--out", str(tmp_path)]
    db = tmp_path / "bench.sqlite"
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(), cwd=REPO)
    children: set[int] = set()
    deadline = time.time() + 300  # generous: a loaded machine starts slowly
    while time.time() < deadline and proc.poll() is None:
        children |= {int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(int(p)) == proc.pid}
        n = 0
        if db.exists():
            try:
                n = _rows(db)[0]
            except sqlite3.OperationalError:
                pass
        if n >= 3:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert 3 <= _rows(db)[0] < 12
    deadline = time.time() + 60  # the workers follow the driver (PDEATHSIG; a watchdog every 1 s)
    while time.time() < deadline and any(os.path.exists(f"/proc/{c}") for c in children):
        time.sleep(0.1)
    assert not [c for c in children if os.path.exists(f"/proc/{c}")], "a Dask worker outlived the driver"
    subprocess.run(args, check=True, capture_output=True, env=_env(), cwd=REPO)
    assert _rows(db) == (12, 12)
    rec = json.loads(next((tmp_path / "results").glob("*.json")).read_text())
    assert rec["counts"]["measured"] == 12


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def test_batches_are_bounded():
    from bench.run.dask_executor import MAX_BATCH_ITEMS, batch_size

    assert batch_size(12, 2) == 2 and batch_size(1, 2) == 1 and batch_size(10**6, 2) == MAX_BATCH_ITEMS
    assert np.all([1 <= batch_size(n, w) <= MAX_BATCH_ITEMS for n in range(1, 200, 7) for w in (1, 2, 50)])
