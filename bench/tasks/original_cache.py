"""What a task computes on an item's original audio (a speaker embedding, an F0 track), kept by
content so that the next codec of the same corpus does not compute it again.

One SQLite file under the run's cache folder (``<out>/cache/originals.sqlite``), keyed by the
item's content hash and a key naming the task's analysis and its settings (a different setting
is a different key, never a stale value). Values are numpy arrays stored exactly (``.npy``
bytes), so a cached value is bit-identical to a recomputed one. Safe for concurrent workers
(SQLite with a busy timeout; a row is written once, ``INSERT OR REPLACE`` of equal values).
"""

from __future__ import annotations

import io
import os
import sqlite3

import numpy as np

FILE_NAME = "originals.sqlite"

#: One connection per process and path (workers open their own; nothing is pickled).
_CONNS: dict[str, sqlite3.Connection] = {}


def _db(cache_dir: str) -> sqlite3.Connection:
    path = os.path.join(cache_dir, FILE_NAME)
    conn = _CONNS.get(path)
    if conn is None:
        os.makedirs(cache_dir, exist_ok=True)
        conn = sqlite3.connect(path, timeout=60.0)
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("CREATE TABLE IF NOT EXISTS originals (item_hash TEXT, key TEXT, name TEXT, data BLOB, "
                     "PRIMARY KEY (item_hash, key, name))")
        conn.commit()
        _CONNS[path] = conn
    return conn


def get(cache_dir: str | None, item_hash: str, key: str) -> dict[str, np.ndarray] | None:
    """The arrays stored for this item and key, or None (no cache folder, no hash, not stored)."""
    if not cache_dir or not item_hash:
        return None
    rows = _db(cache_dir).execute("SELECT name, data FROM originals WHERE item_hash=? AND key=?",
                                  (item_hash, key)).fetchall()
    if not rows:
        return None
    return {name: np.load(io.BytesIO(data), allow_pickle=False) for name, data in rows}


def put(cache_dir: str | None, item_hash: str, key: str, arrays: dict[str, np.ndarray]) -> None:
    if not cache_dir or not item_hash:
        return
    rows = []
    for name, value in arrays.items():
        buf = io.BytesIO()
        np.save(buf, np.asarray(value), allow_pickle=False)
        rows.append((item_hash, key, name, buf.getvalue()))
    conn = _db(cache_dir)
    with conn:
        conn.executemany("INSERT OR REPLACE INTO originals VALUES (?, ?, ?, ?)", rows)
