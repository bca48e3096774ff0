"""A store on Redis, for several hosts behind one load balancer."""

from __future__ import annotations

import json

import redis.asyncio as redis_asyncio

from h5.store.base import Delivery, Store, StoredEvent

# Delete the lock only when its value is still our owner id, in one atomic step.
_RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

# Write the event only if its id is new, then index it and queue its delivery, in one
# atomic step. KEYS: event, events index, outbox. ARGV: JSON, received_at, id, forward.
_ADD_EVENT = """
if redis.call('set', KEYS[1], ARGV[1], 'NX') then
    redis.call('zadd', KEYS[2], ARGV[2], ARGV[3])
    if ARGV[4] == '1' then
        redis.call('zadd', KEYS[3], ARGV[2], ARGV[3])
    end
    return 1
end
return 0
"""

# Take the due outbox entries and push each one's due time to the lease end, atomically.
# KEYS: outbox, attempts hash, errors hash. ARGV: now, lease end, limit.
_CLAIM_DELIVERIES = """
local due = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
local claimed = {}
for i = 1, #due, 2 do
    local id = due[i]
    redis.call('zadd', KEYS[1], ARGV[2], id)
    table.insert(claimed, id)
    table.insert(claimed, due[i + 1])
    table.insert(claimed, redis.call('hget', KEYS[2], id) or '0')
    table.insert(claimed, redis.call('hget', KEYS[3], id) or '')
end
return claimed
"""

# Record a failed attempt only while the entry is still in the outbox, so a worker whose
# lease ran out cannot leave attempts behind for an entry another worker delivered.
# KEYS: outbox, attempts hash, errors hash. ARGV: id, next attempt time, attempts, error.
_RESCHEDULE_DELIVERY = """
if redis.call('zscore', KEYS[1], ARGV[1]) then
    redis.call('zadd', KEYS[1], ARGV[2], ARGV[1])
    redis.call('hset', KEYS[2], ARGV[1], ARGV[3])
    redis.call('hset', KEYS[3], ARGV[1], ARGV[4])
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
        self._add_event = self.client.register_script(_ADD_EVENT)
        self._claim_deliveries = self.client.register_script(_CLAIM_DELIVERIES)
        self._reschedule_delivery = self.client.register_script(_RESCHEDULE_DELIVERY)

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

    async def durability_warning(self) -> str | None:
        # Redis confirms a write once it is in memory. Only an append-only file synced on
        # every write keeps it through a Redis crash or restart.
        try:
            config = await self.client.config_get("append*")
        except redis_asyncio.ResponseError:
            # Hosted Redis often disables CONFIG, so the setting cannot be checked here.
            return None
        appendonly, appendfsync = config.get("appendonly", ""), config.get("appendfsync", "")
        if appendonly == "yes" and appendfsync == "always":
            return None
        return (
            f"Redis runs with appendonly={appendonly} appendfsync={appendfsync}, so events acknowledged to Weixin "
            "can be lost if Redis stops; set appendonly yes and appendfsync always"
        )

    # Events live under event:<id> as JSON, indexed by received time in the sorted set
    # ``events``. The outbox is the sorted set ``outbox`` scored by next attempt time, with
    # attempts and last errors in the hashes ``outbox:attempts`` and ``outbox:errors``.

    async def add_event(self, event_id: str, fields: dict, received_at: float, forward: bool) -> bool:
        value = json.dumps({"received_at": received_at, "fields": fields}, ensure_ascii=False, sort_keys=True)
        keys = [self._key("event:" + event_id), self._key("events"), self._key("outbox")]
        added = await self._add_event(keys=keys, args=[value, repr(received_at), event_id, "1" if forward else "0"])
        return bool(added)

    async def get_event(self, event_id: str) -> StoredEvent | None:
        value = await self.client.get(self._key("event:" + event_id))
        if value is None:
            return None
        delivered_at = await self.client.hget(self._key("events:delivered"), event_id)
        return _stored_event(event_id, value, delivered_at)

    async def list_events(
        self, event_type: str | None = None, card_id: str | None = None, since: float | None = None
    ) -> list[StoredEvent]:
        ids = await self.client.zrangebyscore(self._key("events"), "-inf" if since is None else since, "+inf")
        if not ids:
            return []
        values = await self.client.mget([self._key("event:" + event_id) for event_id in ids])
        delivered = await self.client.hmget(self._key("events:delivered"), ids)

        events = []
        for event_id, value, delivered_at in zip(ids, values, delivered):
            if value is None:
                continue
            event = _stored_event(event_id, value, delivered_at)
            if event_type is not None and event.fields.get("Event") != event_type:
                continue
            if card_id is not None and event.fields.get("CardId") != card_id:
                continue
            events.append(event)
        return events

    async def claim_deliveries(self, now: float, lease: float, limit: int = 20) -> list[Delivery]:
        keys = [self._key("outbox"), self._key("outbox:attempts"), self._key("outbox:errors")]
        flat = await self._claim_deliveries(keys=keys, args=[repr(now), repr(now + lease), limit])
        return [
            Delivery(flat[i], int(flat[i + 2]), float(flat[i + 1]), flat[i + 3]) for i in range(0, len(flat), 4)
        ]

    async def reschedule_delivery(self, event_id: str, attempts: int, next_attempt_at: float, error: str) -> None:
        keys = [self._key("outbox"), self._key("outbox:attempts"), self._key("outbox:errors")]
        await self._reschedule_delivery(keys=keys, args=[event_id, repr(next_attempt_at), attempts, error])

    async def finish_delivery(self, event_id: str, delivered_at: float) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zrem(self._key("outbox"), event_id)
            pipe.hdel(self._key("outbox:attempts"), event_id)
            pipe.hdel(self._key("outbox:errors"), event_id)
            pipe.hset(self._key("events:delivered"), event_id, repr(delivered_at))
            await pipe.execute()

    async def pending_deliveries(self) -> list[Delivery]:
        entries = await self.client.zrange(self._key("outbox"), 0, -1, withscores=True)
        if not entries:
            return []
        ids = [event_id for event_id, _ in entries]
        attempts = await self.client.hmget(self._key("outbox:attempts"), ids)
        errors = await self.client.hmget(self._key("outbox:errors"), ids)
        return [
            Delivery(event_id, int(tries or 0), float(due), error or "")
            for (event_id, due), tries, error in zip(entries, attempts, errors)
        ]


def _stored_event(event_id: str, value: str, delivered_at: str | None) -> StoredEvent:
    data = json.loads(value)
    return StoredEvent(
        event_id=event_id,
        received_at=float(data["received_at"]),
        fields=data["fields"],
        delivered_at=None if delivered_at is None else float(delivered_at),
    )
