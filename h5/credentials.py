"""The access_token, jsapi_ticket and wx_card api_ticket cache.

Each credential is cached per appid in the shared store with a margin before
``expires_in``. Within a process, concurrent callers wait on one ``asyncio.Lock`` per
credential. Across processes and hosts, a store lock lets one of them fetch while the
others re-read the store. The process that takes the lock re-reads the cache first, so a fetch
that another process already finished is never repeated and an older response never
overwrites a newer one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from typing import Awaitable, Callable

from h5.store import Store
from h5.weixin_types import Credential

logger = logging.getLogger(__name__)

ACCESS_TOKEN = "access_token"
JSAPI_TICKET = "jsapi_ticket"
WX_CARD_TICKET = "wx_card_ticket"

Fetcher = Callable[[], Awaitable[tuple[str, int]]]

# How long one fetch may hold the store lock before another process may take over.
LOCK_TTL = 30.0
POLL_INTERVAL = 0.05


def refresh_margin(expires_in: int) -> float:
    """Return how many seconds before expiry a credential counts as stale.

    Weixin keeps an old token valid for 300 s after issuing a new one, so refreshing
    300 s early never leaves a caller with a token that dies mid-request. Short
    lifetimes (tests) refresh at half-life instead.
    """
    return 300.0 if expires_in > 600 else expires_in / 2


def secret_fingerprint(appsecret: str) -> str:
    """Return a short, one-way tag of an AppSecret for cache keys; the secret itself is never stored."""
    return hashlib.sha256(b"wxcard-credential:" + appsecret.encode("utf-8")).hexdigest()[:12]


class CredentialCache:
    """Cached credentials of one appid, shared through a ``Store``.

    The keys carry a fingerprint of the AppSecret, so a process configured with a wrong or
    rotated secret fetches for itself and gets Weixin's error instead of a token that
    another process cached with the right one.
    """

    def __init__(self, store: Store, appid: str, appsecret: str, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.appid = appid
        self.clock = clock
        self._prefix = f"credential:{appid}:{secret_fingerprint(appsecret)}"
        self._locks: dict[str, asyncio.Lock] = {}

    def _key(self, kind: str) -> str:
        return f"{self._prefix}:{kind}"

    async def cached(self, kind: str) -> Credential | None:
        """Return the stored credential if it is still outside its refresh margin."""
        raw = await self.store.get(self._key(kind))
        if raw is None:
            return None
        data = json.loads(raw)
        credential = Credential(value=data["value"], expires_at=float(data["expires_at"]))
        if credential.expires_at - float(data.get("margin", 0)) <= self.clock():
            return None
        return credential

    async def get(self, kind: str, fetch: Fetcher) -> Credential:
        """Return a fresh credential, fetching it once if none is cached."""
        credential = await self.cached(kind)
        if credential is not None:
            return credential

        lock = self._locks.setdefault(kind, asyncio.Lock())
        async with lock:
            # Another task of this process may have fetched while we waited.
            credential = await self.cached(kind)
            if credential is not None:
                return credential
            return await self._fetch_across_processes(kind, fetch)

    async def _fetch_across_processes(self, kind: str, fetch: Fetcher) -> Credential:
        owner = secrets.token_hex(8)
        lock_name = self._key(kind)
        deadline = self.clock() + LOCK_TTL * 2

        while True:
            if await self.store.acquire_lock(lock_name, owner, LOCK_TTL):
                try:
                    # Re-read after taking the lock: the previous holder may have stored a fresh value.
                    credential = await self.cached(kind)
                    if credential is not None:
                        return credential
                    return await self._fetch_and_store(kind, fetch)
                finally:
                    await self.store.release_lock(lock_name, owner)

            await asyncio.sleep(POLL_INTERVAL)
            credential = await self.cached(kind)
            if credential is not None:
                return credential
            if self.clock() > deadline:
                raise TimeoutError(f"waited {LOCK_TTL * 2:.0f} s for another process to fetch {kind} for {self.appid}")

    async def _fetch_and_store(self, kind: str, fetch: Fetcher) -> Credential:
        logger.info("fetching %s for appid=%s", kind, self.appid)
        value, expires_in = await fetch()
        expires_at = self.clock() + expires_in
        margin = refresh_margin(expires_in)
        record = json.dumps({"value": value, "expires_at": expires_at, "margin": margin})
        await self.store.set(self._key(kind), record, ttl=expires_in)
        logger.info("cached %s for appid=%s, expires in %d s", kind, self.appid, expires_in)
        return Credential(value=value, expires_at=expires_at)

    async def invalidate(self, kind: str, failed_value: str) -> bool:
        """Drop the cached credential only if it is still ``failed_value``; return whether it was dropped.

        A credential that another caller already replaced stays, so one rejected call
        causes at most one refresh however many requests saw it. The compare and the
        delete run under the store lock, so a value stored meanwhile is never dropped.
        """
        owner = secrets.token_hex(8)
        lock_name = self._key(kind)
        deadline = self.clock() + LOCK_TTL
        while not await self.store.acquire_lock(lock_name, owner, LOCK_TTL):
            if self.clock() > deadline:
                return False
            await asyncio.sleep(POLL_INTERVAL)
        try:
            raw = await self.store.get(self._key(kind))
            if raw is None or json.loads(raw)["value"] != failed_value:
                return False
            await self.store.delete(self._key(kind))
            logger.info("dropped the rejected %s for appid=%s", kind, self.appid)
            return True
        finally:
            await self.store.release_lock(lock_name, owner)
