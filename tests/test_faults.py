"""Fault injection (issue #16): bad inputs and faulty plugins never crash, hang or get a score.

The cases live in ``benchmarks/bad_input_scoreboard.py`` (which also writes the table in
docs/robustness.md); this test runs it and requires every case handled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import child_pids

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_bad_input_scoreboard_is_all_handled(tmp_path):
    out = tmp_path / "summary.json"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "bad_input_scoreboard.py"),
                           "--out", str(tmp_path / "work"), "--json", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=900)
    summary = json.loads(out.read_text())
    bad = [r for r in summary["results"] if r["outcome"] != "handled"]
    assert not bad, json.dumps(bad, indent=1) + proc.stderr[-2000:]
    assert summary["cases"] >= 60
    kinds = {r["kind"] for r in summary["results"]}
    assert {"bad input", "codec plugin (encode)", "codec plugin (decode)", "task plugin"} <= kinds
    for mode in ("segfault", "exit", "hang", "none", "raise-SystemExit", "raise-MemoryError"):
        assert any(r["what"] == mode and r["outcome"] == "handled" for r in summary["results"]), mode
    assert summary["processes_left"] == []
    assert summary["peak_rss_mb"]["largest_worker"] < 2048 and summary["peak_rss_mb"]["driver"] < 2048
    assert proc.returncode == 0


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_killed_parent(tmp_path):
    """SIGKILL the driver while its two workers are busy (a codec that hangs): both exit."""
    code = ("from bench.codecs import CODECS; "
            "CODECS.register('fault', 'bench.testing.faults:FaultCodec'); "
            "from bench.cli import main; import sys; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "run", "-c", "fault:faults=*:hang",
         "-d", "synthetic", "-t", "reconstruction", "-j", "2", "--out", str(tmp_path / "o"), "--no-progress"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.time() + 300
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.5)
        workers = child_pids(proc.pid)
    assert len(workers) == 2, "the workers did not start"
    time.sleep(3)  # inside the hanging encode
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    left = [p for p in workers if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, f"workers {left} outlived their parent"
