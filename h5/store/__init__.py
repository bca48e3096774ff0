"""Stores for shared state. ``open_store`` picks one from a ``WXCARD_STORE`` URL."""

from h5.store.base import Delivery, Store, StoredEvent, StoreURLError


def open_store(url: str) -> Store:
    """Open the store named by ``url``: ``sqlite:///path`` or ``redis://host:port/db``."""
    if url.startswith("sqlite:///"):
        from h5.store.sqlite import SQLiteStore

        return SQLiteStore(url[len("sqlite:///") :])
    if url.startswith(("redis://", "rediss://", "unix://")):
        from h5.store.redis import RedisStore

        return RedisStore(url)
    raise StoreURLError(
        f"WXCARD_STORE={url!r} is not a supported store URL; use sqlite:///path/to/wxcard.sqlite3 or redis://host:6379/0"
    )


__all__ = ["Delivery", "Store", "StoredEvent", "StoreURLError", "open_store"]
