"""The default store: one SQLite file shared by the processes of one machine."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path

from h5.store.base import Delivery, Store, StoredEvent

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

# Pushed events, one row per distinct push; ``event_id`` is derived from the dedup key.
# ``outbox`` lists the events still to be forwarded to the merchant's webhook.
_EVENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    card_id TEXT NOT NULL,
    received_at REAL NOT NULL,
    delivered_at REAL,
    fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_received_at ON events (received_at);
CREATE TABLE IF NOT EXISTS outbox (
    event_id TEXT PRIMARY KEY REFERENCES events (event_id),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS outbox_next_attempt_at ON outbox (next_attempt_at);
"""


class SQLiteStore(Store):
    """A ``Store`` on a SQLite file in WAL mode.

    Each call runs one short transaction on a connection guarded by a thread lock, in a
    worker thread. While another process holds the write lock, a call waits up to the
    busy timeout, and the event loop keeps serving other requests meanwhile.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._mutex = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL syncs the WAL on every commit, so a committed event survives a power cut
        # before the push is acknowledged.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        self._db.executescript(_EVENT_SCHEMA)

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

    async def _execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        # A worker thread, so that waiting for another process's lock blocks no request.
        return await asyncio.to_thread(self.execute, sql, params)

    async def _transaction(self, steps) -> object:
        return await asyncio.to_thread(self.transaction, steps)

    async def get(self, key: str) -> str | None:
        rows = await self._execute(
            "SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
            (key, time.time()),
        )
        return rows[0][0] if rows else None

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        expires_at = None if ttl is None else time.time() + ttl
        await self._execute("INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?, ?, ?)", (key, value, expires_at))

    async def delete(self, key: str) -> None:
        await self._execute("DELETE FROM kv WHERE key = ?", (key,))

    async def add(self, key: str, value: str, ttl: float | None = None) -> bool:
        now = time.time()
        expires_at = None if ttl is None else now + ttl

        def insert_if_absent(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM kv WHERE key = ? AND expires_at IS NOT NULL AND expires_at <= ?", (key, now))
            cursor = db.execute(
                "INSERT OR IGNORE INTO kv (key, value, expires_at) VALUES (?, ?, ?)", (key, value, expires_at)
            )
            return cursor.rowcount == 1

        return bool(await self._transaction(insert_if_absent))

    async def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        now = time.time()

        def take(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM locks WHERE name = ? AND expires_at <= ?", (name, now))
            cursor = db.execute(
                "INSERT OR IGNORE INTO locks (name, owner, expires_at) VALUES (?, ?, ?)", (name, owner, now + ttl)
            )
            return cursor.rowcount == 1

        return bool(await self._transaction(take))

    async def release_lock(self, name: str, owner: str) -> None:
        await self._execute("DELETE FROM locks WHERE name = ? AND owner = ?", (name, owner))

    def _close(self) -> None:
        with self._mutex:
            self._db.close()

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    async def add_event(self, event_id: str, fields: dict, received_at: float, forward: bool) -> bool:
        row = (
            event_id,
            str(fields.get("Event", "")),
            str(fields.get("CardId", "")),
            received_at,
            json.dumps(fields, ensure_ascii=False, sort_keys=True),
        )

        def insert_if_new(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT OR IGNORE INTO events (event_id, event, card_id, received_at, fields) VALUES (?, ?, ?, ?, ?)", row
            )
            if cursor.rowcount != 1:
                return False
            if forward:
                db.execute("INSERT INTO outbox (event_id, next_attempt_at) VALUES (?, ?)", (event_id, received_at))
            return True

        return bool(await self._transaction(insert_if_new))

    async def get_event(self, event_id: str) -> StoredEvent | None:
        rows = await self._execute(
            "SELECT event_id, received_at, fields, delivered_at FROM events WHERE event_id = ?", (event_id,)
        )
        return _stored_event(rows[0]) if rows else None

    async def list_events(
        self, event_type: str | None = None, card_id: str | None = None, since: float | None = None
    ) -> list[StoredEvent]:
        sql = "SELECT event_id, received_at, fields, delivered_at FROM events WHERE 1 = 1"
        params: list = []
        if event_type is not None:
            sql += " AND event = ?"
            params.append(event_type)
        if card_id is not None:
            sql += " AND card_id = ?"
            params.append(card_id)
        if since is not None:
            sql += " AND received_at >= ?"
            params.append(since)
        sql += " ORDER BY received_at, rowid"
        return [_stored_event(row) for row in await self._execute(sql, tuple(params))]

    async def claim_deliveries(self, now: float, lease: float, limit: int = 20) -> list[Delivery]:
        def claim(db: sqlite3.Connection) -> list[Delivery]:
            rows = db.execute(
                "SELECT event_id, attempts, next_attempt_at, last_error FROM outbox"
                " WHERE next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
                (now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE outbox SET next_attempt_at = ? WHERE event_id = ?", [(now + lease, row[0]) for row in rows]
            )
            return [Delivery(row[0], row[1], row[2], row[3]) for row in rows]

        return list(await self._transaction(claim))

    async def reschedule_delivery(self, event_id: str, attempts: int, next_attempt_at: float, error: str) -> None:
        await self._execute(
            "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE event_id = ?",
            (attempts, next_attempt_at, error, event_id),
        )

    async def finish_delivery(self, event_id: str, delivered_at: float) -> None:
        def finish(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM outbox WHERE event_id = ?", (event_id,))
            db.execute("UPDATE events SET delivered_at = ? WHERE event_id = ?", (delivered_at, event_id))

        await self._transaction(finish)

    async def pending_deliveries(self) -> list[Delivery]:
        rows = await self._execute("SELECT event_id, attempts, next_attempt_at, last_error FROM outbox ORDER BY next_attempt_at")
        return [Delivery(row[0], row[1], row[2], row[3]) for row in rows]


def _stored_event(row: tuple) -> StoredEvent:
    event_id, received_at, fields, delivered_at = row
    return StoredEvent(event_id=event_id, received_at=received_at, fields=json.loads(fields), delivered_at=delivered_at)
