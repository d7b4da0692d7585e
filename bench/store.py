"""Per-item results and the codec cache, in one SQLite file (WAL, one transaction per item).

Keys are content-based: a codec output is keyed by (codec config hash, item content hash), a
task row additionally by (task name, version, config hash). So a second run, a run with one more
task, or a run restarted after a crash finds what is done and never recomputes or duplicates it.
Only the main process writes; workers send their results back to it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sqlite3
import time
import zlib
from typing import Any, Iterable

import numpy as np

from bench.types import Failed

SCHEMA = """
CREATE TABLE IF NOT EXISTS codec_outputs (
    codec_hash TEXT NOT NULL,
    item_hash TEXT NOT NULL,
    item_id TEXT NOT NULL,
    status TEXT NOT NULL,            -- 'ok' or 'failed'
    reason TEXT,                     -- why it failed (load, codec, resampling...)
    tokens BLOB, tokens_shape TEXT,  -- int64 [K, T] raw bytes
    recon BLOB,                      -- float32 at 16 kHz, aligned and fitted to the reference
    lag INTEGER,                     -- samples at 16 kHz the reconstruction was shifted by
    duration REAL,                   -- seconds of input audio
    token_bps REAL, payload_bps REAL,
    notes TEXT,                      -- JSON list: what loading changed (downmix, resampling)
    timings TEXT,                    -- JSON: seconds per stage
    created REAL NOT NULL,
    PRIMARY KEY (codec_hash, item_hash)
);
CREATE TABLE IF NOT EXISTS task_rows (
    codec_hash TEXT NOT NULL,
    item_hash TEXT NOT NULL,
    task_key TEXT NOT NULL,          -- name@version#confighash
    item_id TEXT NOT NULL,
    status TEXT NOT NULL,            -- 'ok' or 'failed'
    reason TEXT,
    extras TEXT,                     -- JSON
    seconds REAL,                    -- wall seconds of the measurement
    created REAL NOT NULL,
    cpu_seconds REAL,                -- CPU-seconds of the measuring process (added later: last)
    PRIMARY KEY (codec_hash, item_hash, task_key)
);
CREATE TABLE IF NOT EXISTS item_arrays (   -- numpy arrays of a task row's extras, typed
    codec_hash TEXT NOT NULL,
    item_hash TEXT NOT NULL,
    task_key TEXT NOT NULL,
    path TEXT NOT NULL,              -- where in the extras: "features.p" is extras["features"]["p"]
    dtype TEXT NOT NULL,             -- numpy dtype string, e.g. "<u4"
    shape TEXT NOT NULL,             -- JSON list
    data BLOB NOT NULL,              -- zlib-compressed C-order bytes
    PRIMARY KEY (codec_hash, item_hash, task_key, path)
);
CREATE TABLE IF NOT EXISTS metric_values (
    codec_hash TEXT NOT NULL,
    item_hash TEXT NOT NULL,
    task_key TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL,                      -- NULL when failed
    failure TEXT,                    -- the reason, when failed
    PRIMARY KEY (codec_hash, item_hash, task_key, metric)
);
"""


@dataclasses.dataclass
class CodecOutput:
    status: str
    reason: str | None = None
    tokens: np.ndarray | None = None
    recon: np.ndarray | None = None
    lag: int = 0
    duration: float = 0.0
    token_bps: float | None = None
    payload_bps: float | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    timings: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class TaskResult:
    task_key: str
    status: str
    reason: str | None = None
    values: dict[str, float | Failed] = dataclasses.field(default_factory=dict)
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    #: CPU-seconds of the measuring process for this item's share of the measurement
    cpu_seconds: float = 0.0


class Store:
    def __init__(self, path: str):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(path, timeout=60)
        # Two runs may open a new folder's store at once (two shells, one --out). SQLite answers
        # "database is locked" at once, without waiting out the timeout, when both try to
        # switch the journal mode or create the tables together; so set-up retries for a while.
        deadline = time.monotonic() + 60
        while True:
            try:
                self._set_up()
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05 + 0.1 * random.random())

    def _set_up(self) -> None:
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        cols = {r[1] for r in self.conn.execute("PRAGMA table_info(task_rows)")}
        if "cpu_seconds" not in cols:  # a store written before the column existed
            try:
                self.conn.execute("ALTER TABLE task_rows ADD COLUMN cpu_seconds REAL")
            except sqlite3.OperationalError as exc:  # another run added it first
                if "duplicate column" not in str(exc):
                    raise

    def close(self) -> None:
        self.conn.close()

    # -- reads --------------------------------------------------------------------------------
    def codec_output(self, codec_hash: str, item_hash: str, with_arrays: bool = True) -> CodecOutput | None:
        cols = "status, reason, lag, duration, token_bps, payload_bps, notes, timings"
        if with_arrays:
            cols += ", tokens, tokens_shape, recon"
        row = self.conn.execute(
            f"SELECT {cols} FROM codec_outputs WHERE codec_hash=? AND item_hash=?",
            (codec_hash, item_hash),
        ).fetchone()
        if row is None:
            return None
        out = CodecOutput(
            status=row[0], reason=row[1], lag=row[2] or 0, duration=row[3] or 0.0,
            token_bps=row[4], payload_bps=row[5], notes=json.loads(row[6] or "[]"),
            timings=json.loads(row[7] or "{}"),
        )
        if with_arrays and out.status == "ok":
            shape = tuple(json.loads(row[9]))
            out.tokens = np.frombuffer(row[8], dtype=np.int64).reshape(shape)
            out.recon = np.frombuffer(row[10], dtype=np.float32)
        return out

    def codec_hashes_done(self, codec_hash: str, ok_only: bool = False) -> set[str]:
        """Items with a stored codec output (only successful ones with ``ok_only``)."""
        sql = "SELECT item_hash FROM codec_outputs WHERE codec_hash=?" + (" AND status='ok'" if ok_only else "")
        return {r[0] for r in self.conn.execute(sql, (codec_hash,))}

    def task_rows_done(self, codec_hash: str, task_key: str, ok_only: bool = False) -> set[str]:
        """Items with a stored task row (only successful ones with ``ok_only``)."""
        sql = "SELECT item_hash FROM task_rows WHERE codec_hash=? AND task_key=?" + (
            " AND status='ok'" if ok_only else "")
        return {r[0] for r in self.conn.execute(sql, (codec_hash, task_key))}

    def task_rows(self, codec_hash: str, task_key: str, item_hashes: Iterable[str]) -> dict[str, dict]:
        """item_hash -> {status, reason, extras, seconds, cpu_seconds, values} for the given items."""
        wanted = set(item_hashes)
        out: dict[str, dict] = {}
        for ih, status, reason, extras, seconds, cpu_seconds in self.conn.execute(
            "SELECT item_hash, status, reason, extras, seconds, cpu_seconds FROM task_rows "
            "WHERE codec_hash=? AND task_key=?",
            (codec_hash, task_key),
        ):
            if ih in wanted:
                out[ih] = {"status": status, "reason": reason, "extras": json.loads(extras or "{}"),
                           "seconds": seconds, "cpu_seconds": cpu_seconds, "values": {}}
        for ih, metric, value, failure in self.conn.execute(
            "SELECT item_hash, metric, value, failure FROM metric_values WHERE codec_hash=? AND task_key=?",
            (codec_hash, task_key),
        ):
            if ih in out:
                out[ih]["values"][metric] = Failed(failure) if failure is not None else value
        for ih, path, dtype, shape, data in self.conn.execute(
            "SELECT item_hash, path, dtype, shape, data FROM item_arrays WHERE codec_hash=? AND task_key=?",
            (codec_hash, task_key),
        ):
            if ih in out:
                arr = np.frombuffer(zlib.decompress(data), dtype=np.dtype(dtype)).reshape(json.loads(shape))
                _put(out[ih]["extras"], path, arr)
        return out

    def codec_stats(self, codec_hash: str, item_hashes: Iterable[str]) -> dict[str, dict]:
        wanted = set(item_hashes)
        out = {}
        for ih, status, reason, lag, duration, tbps, pbps, notes, timings in self.conn.execute(
            "SELECT item_hash, status, reason, lag, duration, token_bps, payload_bps, notes, timings "
            "FROM codec_outputs WHERE codec_hash=?", (codec_hash,),
        ):
            if ih in wanted:
                out[ih] = {"status": status, "reason": reason, "lag": lag, "duration": duration,
                           "token_bps": tbps, "payload_bps": pbps, "notes": json.loads(notes or "[]"),
                           "timings": json.loads(timings or "{}")}
        return out

    def count_rows(self, table: str) -> int:
        return self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    # -- writes -------------------------------------------------------------------------------
    def write_item(
        self, codec_hash: str, item_hash: str, item_id: str,
        codec_output: CodecOutput | None, task_results: list[TaskResult],
    ) -> None:
        """Write one item's codec output (if new) and task rows in a single transaction."""
        now = time.time()
        with self.conn:  # BEGIN ... COMMIT, or ROLLBACK on error
            if codec_output is not None:
                co = codec_output
                ok = co.status == "ok"
                self.conn.execute(
                    "INSERT OR REPLACE INTO codec_outputs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        codec_hash, item_hash, item_id, co.status, co.reason,
                        np.ascontiguousarray(co.tokens, dtype=np.int64).tobytes() if ok else None,
                        json.dumps(list(co.tokens.shape)) if ok else None,
                        np.ascontiguousarray(co.recon, dtype=np.float32).tobytes() if ok else None,
                        int(co.lag), float(co.duration), co.token_bps, co.payload_bps,
                        json.dumps(co.notes), json.dumps(co.timings), now,
                    ),
                )
            for tr in task_results:
                extras, arrays = split_arrays(tr.extras)
                self.conn.execute(
                    "INSERT OR REPLACE INTO task_rows (codec_hash, item_hash, task_key, item_id, status, reason, "
                    "extras, seconds, created, cpu_seconds) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (codec_hash, item_hash, tr.task_key, item_id, tr.status, tr.reason,
                     json.dumps(extras, default=_json_default), tr.seconds, now, tr.cpu_seconds),
                )
                self.conn.execute("DELETE FROM item_arrays WHERE codec_hash=? AND item_hash=? AND task_key=?",
                                  (codec_hash, item_hash, tr.task_key))
                self.conn.executemany(
                    "INSERT INTO item_arrays VALUES (?,?,?,?,?,?,?)",
                    [(codec_hash, item_hash, tr.task_key, path, a.dtype.str, json.dumps(list(a.shape)),
                      zlib.compress(np.ascontiguousarray(a).tobytes(), 6)) for path, a in arrays],
                )
                self.conn.execute(
                    "DELETE FROM metric_values WHERE codec_hash=? AND item_hash=? AND task_key=?",
                    (codec_hash, item_hash, tr.task_key),
                )
                self.conn.executemany(
                    "INSERT INTO metric_values VALUES (?,?,?,?,?,?)",
                    [
                        (codec_hash, item_hash, tr.task_key, metric,
                         None if isinstance(v, Failed) else round_sig(v),
                         v.reason if isinstance(v, Failed) else None)
                        for metric, v in sorted(tr.values.items())
                    ],
                )


def split_arrays(extras: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, np.ndarray]]]:
    """Extras without their numpy arrays (kept for JSON), and the arrays by dotted path (kept in
    typed rows of ``item_arrays``); arrays inside nested dicts are found too."""
    rest: dict[str, Any] = {}
    arrays: list[tuple[str, np.ndarray]] = []
    for key, value in extras.items():
        path = f"{prefix}{key}"
        if isinstance(value, (np.ndarray, dict)) and "." in str(key):
            raise ValueError(f"an extras key holding an array or a dict may not contain '.': {key!r}")
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise ValueError(f"extras array {path!r} has dtype object: store numbers, not objects")
            arrays.append((path, value))
        elif isinstance(value, dict):
            sub, more = split_arrays(value, path + ".")
            rest[key] = sub
            arrays += more
        else:
            rest[key] = value
    return rest, arrays


def _put(extras: dict[str, Any], path: str, value: np.ndarray) -> None:
    *parents, last = path.split(".")
    for key in parents:
        extras = extras.setdefault(key, {})
    extras[last] = value


def round_sig(value: float, digits: int = 10) -> float:
    """Round to ``digits`` significant digits before storing.

    numpy's SIMD reductions can differ in the last bits with memory alignment, so the same
    item measured twice may differ by 1e-16 relative; rounding makes a resumed run's summary
    identical to an uninterrupted one. Ten digits are far below any metric's real resolution.
    """
    return float(f"{float(value):.{digits}g}")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
