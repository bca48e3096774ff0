"""Stores for shared state. ``open_store`` picks one from a ``WXCARD_STORE`` URL."""

import sqlite3
from urllib.parse import urlsplit

from redis.exceptions import RedisError

from h5.store.base import Delivery, Store, StoredEvent, StoreURLError

# Exceptions a store call raises when its database is unreachable, locked or broken. Request
# handlers catch these to return 503 instead of a 500.
STORE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, RedisError, OSError)


def _without_password(url: str) -> str:
    """Return ``url`` with any user and password removed, for error messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def open_store(url: str) -> Store:
    """Open the store named by ``url``: ``sqlite:///path`` or ``redis://host:port/db``."""
    if url.startswith("sqlite:///"):
        from h5.store.sqlite import SQLiteStore

        return SQLiteStore(url[len("sqlite:///") :])
    if url.startswith(("redis://", "rediss://", "unix://")):
        from h5.store.redis import RedisStore

        return RedisStore(url)
    raise StoreURLError(
        f"WXCARD_STORE={_without_password(url)!r} is not a supported store URL; "
        "use sqlite:///path/to/wxcard.sqlite3 or redis://host:6379/0"
    )


__all__ = ["STORE_ERRORS", "Delivery", "Store", "StoredEvent", "StoreURLError", "open_store"]
