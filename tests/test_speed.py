"""The speed levers keep the numbers: one worker pool shared by a command's codecs, originals'
analyses cached by content, a finished run's records reused (issue #21). No timing assertions."""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest

import bench.runner as runner
from bench.run import executors
from bench.runner import RunOptions, run, shared_pool


def _values(out: str) -> dict:
    with sqlite3.connect(os.path.join(out, "bench.sqlite")) as conn:
        return {r[:4]: r[4:] for r in conn.execute(
            "SELECT codec_hash, item_hash, task_key, metric, value, failure FROM metric_values")}


def test_one_pool_serves_every_codec_with_the_same_numbers(tmp_path):
    common = dict(dataset="synthetic", limit=3, tasks=("reconstruction",), progress=False, workers=2)
    codecs = ("mulaw-8bit", "mulaw-4bit")
    for codec in codecs:  # a pool per run, as without shared_pool()
        run(RunOptions(codec=codec, out=str(tmp_path / "apart"), **common))
    pids = []
    with shared_pool():
        for codec in codecs:
            run(RunOptions(codec=codec, out=str(tmp_path / "shared"), **common))
            pids.append(sorted(w["proc"].pid for w in executors._SHARED["pool"].workers))
    assert pids[0] == pids[1] and len(pids[0]) == 2  # the same worker processes for both codecs
    assert executors._SHARED is None  # closed with the block
    assert _values(str(tmp_path / "apart")) == _values(str(tmp_path / "shared"))


def test_a_finished_run_reuses_its_records_until_a_row_changes(tmp_path, monkeypatch):
    opts = RunOptions(codec="mulaw-8bit", dataset="synthetic", limit=2, tasks=("reconstruction",),
                      out=str(tmp_path / "out"), progress=False, isolate=False)
    first = run(opts)

    def refuse(*args, **kwargs):
        raise AssertionError("summarised again")

    real = runner.summarize_run
    monkeypatch.setattr(runner, "summarize_run", refuse)
    again = run(opts)
    assert again.records == first.records and again.paths == first.paths
    with sqlite3.connect(os.path.join(opts.out, "bench.sqlite")) as conn:
        conn.execute("UPDATE metric_values SET value = value + 1 WHERE metric='si_sdr'")
    with pytest.raises(AssertionError, match="summarised again"):
        run(opts)
    monkeypatch.setattr(runner, "summarize_run", real)
    changed = run(opts)
    assert changed.records[0]["metrics"]["si_sdr"]["value"] == pytest.approx(
        first.records[0]["metrics"]["si_sdr"]["value"] + 1)


def test_a_run_on_another_dataset_does_not_undo_the_reuse(tmp_path, monkeypatch):
    """The records of (codec, dataset A) depend on A's items only: running the same codec on B in
    the same folder (as `bench run` without --task does, one dataset after another) keeps A's
    records reusable."""
    common = dict(codec="mulaw-8bit", tasks=("reconstruction",), out=str(tmp_path / "out"),
                  progress=False, isolate=False)
    a = RunOptions(dataset="synthetic", limit=2, **common)
    run(a)
    run(RunOptions(dataset="synthetic", limit=3, seed=1, **common))  # other items, same codec
    monkeypatch.setattr(runner, "summarize_run", lambda *args, **kwargs: (_ for _ in ()).throw(
        AssertionError("summarised again")))
    run(a)


def test_pitch_computes_the_original_once_per_item(tmp_path, monkeypatch):
    pytest.importorskip("parselmouth")
    import bench.tasks.pitch as pitch_mod
    from bench.tasks.base import ItemContext

    t = np.arange(16000) / 16000
    ref = (0.3 * np.sin(2 * np.pi * 140 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    rec = (ref + 0.01 * np.random.default_rng(0).standard_normal(len(ref))).astype(np.float32)
    item = ItemContext("a", ref, rec, np.zeros((1, 1), dtype=np.int64), {}, item_hash="h1")
    task = pitch_mod.Pitch()
    plain = task.measure(item)  # no cache folder: computed every time
    task.cache_dir = str(tmp_path / "cache")
    calls = []
    real = pitch_mod.praat_f0
    monkeypatch.setattr(pitch_mod, "praat_f0", lambda w, *a: calls.append(len(w)) or real(w, *a))
    first, second = task.measure(item), task.measure(item)
    assert len(calls) == 3  # the original once, the reconstruction twice
    assert first.values == second.values == plain.values
    assert first.extras == second.extras == plain.extras


def test_file_hashes_kept_on_disk_until_the_file_changes(tmp_path, monkeypatch):
    import hashlib
    import json

    from bench import audio

    data = tmp_path / "weights.bin"
    data.write_bytes(b"a" * 1000)
    old = 1_600_000_000
    os.utime(data, (old, old))
    cache = tmp_path / "cache" / "file_hashes.json"
    want = hashlib.sha256(b"a" * 1000).hexdigest()
    FAKE = "f" * 64  # a well-formed hash the file does not have: seen only if taken from the disk
    monkeypatch.setattr(audio, "_SETTLE_NS", 0)  # utime moved the ctime to now
    monkeypatch.setattr(audio, "_FILE_HASHES", {})
    with audio.file_hash_cache(cache):
        assert audio.file_hash(data) == want
    assert list(json.loads(cache.read_text()).values()) == [want]
    # the next run (a fresh process: no memo) takes it from the disk, without reading the file
    stored = json.loads(cache.read_text())
    stored[next(iter(stored))] = FAKE
    cache.write_text(json.dumps(stored))
    monkeypatch.setattr(audio, "_FILE_HASHES", {})
    with audio.file_hash_cache(cache):
        assert audio.file_hash(data) == FAKE
    # an integrity check reads the file, whatever the cache on disk says
    monkeypatch.setattr(audio, "_FILE_HASHES", {})
    with audio.file_hash_cache(cache):
        assert audio.file_hash(data) == FAKE
        assert audio.file_hash(data, disk=False) == want
        assert audio.file_hash(data) == want  # what was read replaces what was remembered
    # replaced by a file of the same size and times (a new inode): hashed again
    (tmp_path / "new.bin").write_bytes(b"b" * 1000)
    os.replace(tmp_path / "new.bin", data)
    os.utime(data, (old, old))
    monkeypatch.setattr(audio, "_FILE_HASHES", {})
    with audio.file_hash_cache(cache):
        assert audio.file_hash(data) == hashlib.sha256(b"b" * 1000).hexdigest()
    # a file changed a moment ago is not kept on disk (a rewrite within the timestamps'
    # granularity could go unseen); outside the block nothing is written
    fresh = tmp_path / "fresh.bin"
    fresh.write_bytes(b"c")
    monkeypatch.setattr(audio, "_SETTLE_NS", 2_000_000_000)
    monkeypatch.setattr(audio, "_FILE_HASHES", {})
    with audio.file_hash_cache(cache):
        audio.file_hash(fresh)
    assert len(json.loads(cache.read_text())) == 2 and audio._DISK_HASHES["path"] is None
    assert all(len(v) == 64 for v in json.loads(cache.read_text()).values())
    cache.write_text("not json")
    monkeypatch.setattr(audio, "_SETTLE_NS", 0)
    monkeypatch.setattr(audio, "_FILE_HASHES", {})
    with audio.file_hash_cache(cache):  # a broken cache file is ignored, then replaced
        assert audio.file_hash(data) == hashlib.sha256(b"b" * 1000).hexdigest()
    assert len(json.loads(cache.read_text())) == 1


def test_workers_leave_cleanly_without_the_interpreter_teardown(tmp_path):
    """Workers end with os._exit, after the exit steps that matter: codec2's private library
    folder (an atexit handler) is removed, faster-whisper's tqdm lock (a named semaphore) is
    released rather than reported leaked, and every item is stored."""
    import subprocess
    import sys

    pytest.importorskip("pycodec2")
    pytest.importorskip("faster_whisper")
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    cmd = [sys.executable, "-m", "bench", "run", "-c", "codec2-3200", "-d", "synth-speech-test", "--limit", "2",
           "-t", "asr", "-j", "2", "--out", str(out), "--no-progress", "--no-scorecard"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "TMPDIR": str(tmp)})
    assert proc.returncode == 0, proc.stderr
    assert "leaked" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "2 of 2 items computed" in proc.stderr
    assert not list(tmp.glob("bench-codec2-*")), list(tmp.iterdir())
    with sqlite3.connect(str(out / "bench.sqlite")) as conn:
        assert conn.execute("SELECT COUNT(DISTINCT item_hash) FROM metric_values").fetchone()[0] == 2
