"""The store interface: shared state for credentials, hand-overs, events and import progress.

Every method is async so that a networked store (Redis) and a local one (SQLite) are
interchangeable. Keys are plain text; values are text (JSON where structured).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


class Store(ABC):
    """A key-value store with expiry and cross-process locks.

    Implementations must make ``acquire_lock`` atomic across every process that shares
    the store, because the token cache relies on it for one fetch per expiry.
    """

    url: str

    @abstractmethod
    async def get(self, key: str) -> str | None:
        """Return the value of ``key``, or None when it is absent or expired."""

    @abstractmethod
    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store ``value`` under ``key``, expiring after ``ttl`` seconds when given."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key`` if present."""

    @abstractmethod
    async def add(self, key: str, value: str, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent; return whether it was stored."""

    @abstractmethod
    async def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        """Take the lock ``name`` for ``owner`` for at most ``ttl`` seconds; return whether it was taken."""

    @abstractmethod
    async def release_lock(self, name: str, owner: str) -> None:
        """Release ``name`` only if ``owner`` still holds it, so a late caller never frees another's lock."""

    async def close(self) -> None:
        """Release connections; the default has none."""

    async def durability_warning(self) -> str | None:
        """Return why a write this store confirmed could still be lost in a crash, or None."""
        return None

    # Pushed events and their delivery outbox. ``add_event`` writes the event and, when
    # asked, its outbox entry in one atomic step, so a stored event is never left without
    # the delivery that a configured webhook expects.

    @abstractmethod
    async def add_event(self, event_id: str, fields: dict[str, Any], received_at: float, forward: bool) -> bool:
        """Store a pushed event under ``event_id`` unless that id is already stored; return whether it was new.

        ``fields`` is the push with Weixin's field names (JSON-serializable). With
        ``forward`` a new event also gets an outbox entry due at ``received_at``.
        """

    @abstractmethod
    async def get_event(self, event_id: str) -> StoredEvent | None:
        """Return the stored event ``event_id``, or None."""

    @abstractmethod
    async def list_events(
        self, event_type: str | None = None, card_id: str | None = None, since: float | None = None
    ) -> list[StoredEvent]:
        """Return stored events, oldest received first, filtered by Event, CardId and received time."""

    @abstractmethod
    async def claim_deliveries(self, now: float, lease: float, limit: int = 20) -> list[Delivery]:
        """Return up to ``limit`` outbox entries due at ``now`` and postpone each by ``lease`` seconds.

        Claiming is atomic, so two workers on one store do not deliver the same entry at
        once, and an entry whose worker died becomes due again when the lease ends.
        """

    @abstractmethod
    async def reschedule_delivery(self, event_id: str, attempts: int, next_attempt_at: float, error: str) -> None:
        """Record a failed delivery attempt and when to try again."""

    @abstractmethod
    async def finish_delivery(self, event_id: str, delivered_at: float) -> None:
        """Remove the outbox entry of a delivered event and record when it was delivered."""

    @abstractmethod
    async def pending_deliveries(self) -> list[Delivery]:
        """Return every outbox entry not yet delivered, soonest due first."""


@dataclass(frozen=True)
class StoredEvent:
    """A pushed event as stored: its id, when it was received, its Weixin fields."""

    event_id: str
    received_at: float
    fields: dict[str, Any]
    delivered_at: float | None = None


@dataclass(frozen=True)
class Delivery:
    """An outbox entry: the event to forward, attempts so far, when it is next due and the last error."""

    event_id: str
    attempts: int
    next_attempt_at: float
    last_error: str = ""


class StoreURLError(ValueError):
    """A WXCARD_STORE value that names no supported store."""
