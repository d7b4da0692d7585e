"""Result records are typed and validated; older schemas migrate; results load as DataFrames."""

from __future__ import annotations

import copy
import json
import os

import pytest

from bench.results import SCHEMA_VERSION, Record, ResultError, items_frame, load_record, migrate, to_frame

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "records")


def _fixture(name):
    with open(os.path.join(FIXTURES, name)) as fh:
        return json.load(fh)


def test_every_schema_version_has_a_fixture_that_loads():
    for version in range(1, SCHEMA_VERSION + 1):
        path = os.path.join(FIXTURES, f"v{version}_reconstruction.json")
        rec = load_record(path)
        assert rec["schema_version"] == SCHEMA_VERSION
        typed = Record.from_dict(rec)
        assert typed.metrics["pesq_wb"].n > 0 and typed.run is not None


def test_v1_migrates_and_says_what_it_lacks():
    rec = migrate(_fixture("v1_reconstruction.json"))
    assert rec["run"]["key"] is None and "not recorded" in rec["run"]["note"]
    assert rec["codec"]["bitrate"]["token_kbps"]["weighting"] == "mean of per-item rates"
    assert rec["counts"]["input_notes"] == {}


def test_a_newer_schema_is_refused():
    rec = _fixture("v2_reconstruction.json")
    rec["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ResultError, match="newer than this bench"):
        migrate(rec)


@pytest.mark.parametrize("break_it,message", [
    (lambda r: r["metrics"]["pesq_wb"].pop("n"), "metrics.pesq_wb.n"),
    (lambda r: r["metrics"]["stoi"].update(value="high"), "metrics.stoi.value"),
    (lambda r: r.pop("run"), "run"),
    (lambda r: r["codec"].pop("config_hash"), "codec.config_hash"),
])
def test_a_malformed_record_names_the_field(break_it, message):
    rec = copy.deepcopy(_fixture("v2_reconstruction.json"))
    break_it(rec)
    with pytest.raises(ResultError, match=message.replace(".", r"\.")):
        migrate(rec)


def test_typed_record_round_trips():
    rec = migrate(_fixture("v2_reconstruction.json"))
    again = Record.from_dict(rec).to_dict()
    for key in ("codec", "task", "dataset", "counts", "metrics", "run"):
        assert again[key] == rec[key], key


def test_to_frame_one_row_per_metric(tmp_path):
    pytest.importorskip("pandas")
    rec = migrate(_fixture("v2_reconstruction.json"))
    frame = to_frame([rec, os.path.join(FIXTURES, "v1_reconstruction.json")])
    assert len(frame) == len(rec["metrics"]) + len(_fixture("v1_reconstruction.json")["metrics"])
    row = frame[(frame.metric == "pesq_wb") & (frame.codec == "mulaw-4bit") & (frame.dataset == "synthetic")].iloc[0]
    assert row.value == rec["metrics"]["pesq_wb"]["value"] and bool(row.higher_is_better)
    assert row.token_kbps == pytest.approx(64.0)


def test_items_frame_reads_the_store(tmp_path):
    pytest.importorskip("pandas")
    from bench.runner import RunOptions, run

    rep = run(RunOptions(codec="identity", dataset="synthetic", limit=3, tasks=("reconstruction",),
                         out=str(tmp_path), progress=False))
    frame = items_frame(str(tmp_path / "bench.sqlite"), rep.records[0]["run"]["key"], "reconstruction")
    assert set(frame.item_id) == {r for r in frame.item_id} and frame.item_id.nunique() == 3
    pesq = frame[frame.metric == "pesq_wb"].value
    assert pesq.mean() == pytest.approx(rep.records[0]["metrics"]["pesq_wb"]["value"])


def test_store_keeps_extras_arrays_typed(tmp_path):
    import numpy as np

    from bench.store import CodecOutput, Store, TaskResult

    store = Store(str(tmp_path / "s.sqlite"))
    arrays = {"emb": np.arange(4, dtype=np.float64) / 3, "feat": {"p": np.array([0, 2, 5], dtype=np.uint32)}}
    store.write_item("c", "h", "item", CodecOutput(status="failed", reason="x"),
                     [TaskResult("t@1#0", "ok", None, {"m": 1.0}, {"note": "kept", **arrays})])
    raw = store.conn.execute("SELECT extras FROM task_rows").fetchone()[0]
    assert "emb" not in raw and "kept" in raw  # arrays are not JSON lists any more
    row = store.task_rows("c", "t@1#0", ["h"])["h"]
    assert row["extras"]["note"] == "kept"
    np.testing.assert_array_equal(row["extras"]["emb"], arrays["emb"])
    assert row["extras"]["feat"]["p"].dtype == np.uint32
    np.testing.assert_array_equal(row["extras"]["feat"]["p"], arrays["feat"]["p"])
    store.close()


def _open_store_at(args):
    path, barrier = args
    from bench.store import CodecOutput, Store, TaskResult

    barrier.wait()
    store = Store(path)
    store.write_item("c", f"h{os.getpid()}", "item", CodecOutput(status="failed", reason="x"),
                     [TaskResult("t@1#0", "ok", None, {"m": 1.0}, {})])
    store.close()
    return True


def test_runs_opening_one_new_store_at_once_all_succeed(tmp_path):
    """Two runs into one new --out folder used to fail at once with "database is locked"
    (SQLite does not wait out its timeout when both switch the journal mode together)."""
    import multiprocessing as mp

    from bench.store import Store

    path = str(tmp_path / "bench.sqlite")
    ctx = mp.get_context("spawn")
    n = 6
    with ctx.Manager() as manager:
        barrier = manager.Barrier(n)
        with ctx.Pool(n) as pool:
            assert pool.map(_open_store_at, [(path, barrier)] * n) == [True] * n
    store = Store(path)
    assert store.conn.execute("SELECT COUNT(*) FROM task_rows").fetchone()[0] == n
    store.close()
