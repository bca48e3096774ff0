"""The store interface: shared state for credentials, hand-overs, events and import progress.

Every method is async so that a networked store (Redis) and a local one (SQLite) are
interchangeable. Keys are plain text; values are text (JSON where structured).
"""

from __future__ import annotations

from abc import ABC, abstractmethod


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


class StoreURLError(ValueError):
    """A WXCARD_STORE value that names no supported store."""
