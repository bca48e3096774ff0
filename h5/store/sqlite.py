"""The default store: one SQLite file shared by the processes of one machine."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from h5.store.base import Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at REAL
);
CREATE TABLE IF NOT EXISTS locks (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""


class SQLiteStore(Store):
    """A ``Store`` on a SQLite file in WAL mode.

    Each call runs one short transaction on a connection guarded by a thread lock. The
    calls block the event loop for the time of a local write, well under a millisecond
    without fsync contention.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._mutex = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Run one statement in its own transaction and return its rows."""
        with self._mutex:
            return self._db.execute(sql, params).fetchall()

    def transaction(self, steps) -> object:
        """Run ``steps(connection)`` inside BEGIN IMMEDIATE, so it is atomic across processes."""
        with self._mutex:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = steps(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

    async def get(self, key: str) -> str | None:
        rows = self.execute(
            "SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
            (key, time.time()),
        )
        return rows[0][0] if rows else None

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        expires_at = None if ttl is None else time.time() + ttl
        self.execute("INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?, ?, ?)", (key, value, expires_at))

    async def delete(self, key: str) -> None:
        self.execute("DELETE FROM kv WHERE key = ?", (key,))

    async def add(self, key: str, value: str, ttl: float | None = None) -> bool:
        now = time.time()
        expires_at = None if ttl is None else now + ttl

        def insert_if_absent(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM kv WHERE key = ? AND expires_at IS NOT NULL AND expires_at <= ?", (key, now))
            cursor = db.execute(
                "INSERT OR IGNORE INTO kv (key, value, expires_at) VALUES (?, ?, ?)", (key, value, expires_at)
            )
            return cursor.rowcount == 1

        return bool(self.transaction(insert_if_absent))

    async def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        now = time.time()

        def take(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM locks WHERE name = ? AND expires_at <= ?", (name, now))
            cursor = db.execute(
                "INSERT OR IGNORE INTO locks (name, owner, expires_at) VALUES (?, ?, ?)", (name, owner, now + ttl)
            )
            return cursor.rowcount == 1

        return bool(self.transaction(take))

    async def release_lock(self, name: str, owner: str) -> None:
        self.execute("DELETE FROM locks WHERE name = ? AND owner = ?", (name, owner))

    async def close(self) -> None:
        with self._mutex:
            self._db.close()
