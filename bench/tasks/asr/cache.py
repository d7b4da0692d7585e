"""The original-transcript cache of the asr task."""

from __future__ import annotations

import os
import sqlite3


class TranscriptCache:
    """item hash x ASR hash -> transcript of the original audio, in SQLite (safe for workers)."""

    def __init__(self, path: str | None):
        self.path = path
        self._mem: dict[tuple[str, str], str] = {}
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        if self._conn is None:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=60.0)
            self._conn.execute("PRAGMA busy_timeout=60000")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS transcripts (item_hash TEXT, asr_hash TEXT, text TEXT, "
                "seconds REAL, PRIMARY KEY (item_hash, asr_hash))"
            )
            self._conn.commit()
        return self._conn

    def get_many(self, item_hashes: list[str], asr_hash: str) -> dict[str, str]:
        out = {h: self._mem[(h, asr_hash)] for h in item_hashes if (h, asr_hash) in self._mem}
        db = self._db()
        todo = [h for h in item_hashes if h and h not in out]
        if db is not None and todo:
            marks = ",".join("?" * len(todo))
            for ih, text in db.execute(
                f"SELECT item_hash, text FROM transcripts WHERE asr_hash=? AND item_hash IN ({marks})",
                [asr_hash, *todo],
            ):
                out[ih] = text
        return out

    def put_many(self, entries: list[tuple[str, str, float]], asr_hash: str) -> None:
        for ih, text, _ in entries:
            if ih:
                self._mem[(ih, asr_hash)] = text
        db = self._db()
        if db is not None:
            with db:
                db.executemany("INSERT OR REPLACE INTO transcripts VALUES (?, ?, ?, ?)",
                               [(ih, asr_hash, text, s) for ih, text, s in entries if ih])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
