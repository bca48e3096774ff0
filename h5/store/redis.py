"""A store on Redis, for several hosts behind one load balancer."""

from __future__ import annotations

import redis.asyncio as redis_asyncio

from h5.store.base import Store

# Delete the lock only when its value is still our owner id, in one atomic step.
_RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisStore(Store):
    """A ``Store`` on a Redis server, with every key under ``prefix``."""

    def __init__(self, url: str, prefix: str = "wxcard:") -> None:
        self.url = url
        self.prefix = prefix
        self.client = redis_asyncio.from_url(url, decode_responses=True, socket_timeout=5.0, socket_connect_timeout=5.0)
        self._release = self.client.register_script(_RELEASE_IF_OWNER)

    def _key(self, key: str) -> str:
        return self.prefix + key

    async def get(self, key: str) -> str | None:
        return await self.client.get(self._key(key))

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        px = None if ttl is None else max(1, int(ttl * 1000))
        await self.client.set(self._key(key), value, px=px)

    async def delete(self, key: str) -> None:
        await self.client.delete(self._key(key))

    async def add(self, key: str, value: str, ttl: float | None = None) -> bool:
        px = None if ttl is None else max(1, int(ttl * 1000))
        return bool(await self.client.set(self._key(key), value, px=px, nx=True))

    async def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        return bool(await self.client.set(self._key("lock:" + name), owner, px=max(1, int(ttl * 1000)), nx=True))

    async def release_lock(self, name: str, owner: str) -> None:
        await self._release(keys=[self._key("lock:" + name)], args=[owner])

    async def close(self) -> None:
        await self.client.aclose()
