"""The SQLite and Redis stores behave the same for values, expiry, locks, event dedup and durability."""

import asyncio
import multiprocessing
import secrets
import time

import pytest
import redis

from h5.store import StoreURLError, open_store
from h5.store.redis import RedisStore
from tests.push_helpers import delete_redis_keys, require_redis

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    require_redis(REDIS_URL)
    return REDIS_URL


def run(coro):
    return asyncio.run(coro)


def test_store_values_and_expiry(store_url):
    async def scenario():
        store = open_store(store_url)
        key = "test:" + secrets.token_hex(4)
        try:
            assert await store.get(key) is None
            await store.set(key, "第一", ttl=0.2)
            assert await store.get(key) == "第一"
            assert not await store.add(key, "second")
            await asyncio.sleep(0.3)
            assert await store.get(key) is None
            assert await store.add(key, "second")
            assert await store.get(key) == "second"
            await store.delete(key)
            assert await store.get(key) is None
        finally:
            await store.close()

    run(scenario())


def test_lock_released_only_by_owner(store_url):
    async def scenario():
        store = open_store(store_url)
        name = "test-lock:" + secrets.token_hex(4)
        try:
            assert await store.acquire_lock(name, "owner-a", ttl=5)
            assert not await store.acquire_lock(name, "owner-b", ttl=5)
            await store.release_lock(name, "owner-b")
            assert not await store.acquire_lock(name, "owner-b", ttl=5)
            await store.release_lock(name, "owner-a")
            assert await store.acquire_lock(name, "owner-b", ttl=5)
            await store.release_lock(name, "owner-b")
        finally:
            await store.close()

    run(scenario())


def test_lock_expires(store_url):
    async def scenario():
        store = open_store(store_url)
        name = "test-lock:" + secrets.token_hex(4)
        try:
            assert await store.acquire_lock(name, "crashed-owner", ttl=0.2)
            started = time.monotonic()
            while not await store.acquire_lock(name, "next-owner", ttl=5):
                assert time.monotonic() - started < 5
                await asyncio.sleep(0.05)
            await store.release_lock(name, "next-owner")
        finally:
            await store.close()

    run(scenario())


def test_unknown_store_url_names_the_setting():
    with pytest.raises(StoreURLError) as raised:
        open_store("mysql://localhost/wxcard")
    assert "WXCARD_STORE" in str(raised.value)
    assert "sqlite:///" in str(raised.value)


def _open(store_url: str, prefix: str):
    if store_url.startswith("redis://"):
        return RedisStore(store_url, prefix=prefix)
    return open_store(store_url)


def _add_same_event(store_url: str, prefix: str, event_id: str, barrier, results) -> None:
    """Add ``event_id`` from a separate process once every process is ready, and report the result."""

    async def add() -> bool:
        store = _open(store_url, prefix)
        try:
            # Connect first, so the processes reach add_event together.
            await store.get("warm-up")
            barrier.wait(30)
            fields = {"Event": "user_get_card", "FromUserName": "oPLACEHOLDER_openid", "CardId": "pCARD"}
            return await store.add_event(event_id, fields, time.time(), forward=True)
        finally:
            await store.close()

    results.put(asyncio.run(add()))


def test_same_event_from_processes_stored_once(store_url):
    prefix = f"test-dedup-{secrets.token_hex(4)}:"
    event_id = secrets.token_hex(16)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    results = context.Queue()
    workers = [
        context.Process(target=_add_same_event, args=(store_url, prefix, event_id, barrier, results)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    try:
        added = sorted(results.get(timeout=60) for _ in workers)
    finally:
        for worker in workers:
            worker.join(30)

    # Four identical pushes at the same moment in four workers: one event, one delivery.
    assert added == [False, False, False, True]

    async def check():
        store = _open(store_url, prefix)
        try:
            assert [event.event_id for event in await store.list_events()] == [event_id]
            assert [delivery.event_id for delivery in await store.pending_deliveries()] == [event_id]
        finally:
            await store.close()

    try:
        run(check())
    finally:
        if store_url.startswith("redis://"):
            delete_redis_keys(store_url, prefix)


def test_durability_warning_matches_configuration(store_url):
    async def scenario():
        store = open_store(store_url)
        try:
            return await store.durability_warning()
        finally:
            await store.close()

    warning = run(scenario())
    if store_url.startswith("sqlite:///"):
        # Every SQLite commit is synced to disk before it returns.
        assert warning is None
        return
    config = redis.Redis.from_url(store_url, decode_responses=True).config_get("append*")
    if config["appendonly"] == "yes" and config["appendfsync"] == "always":
        assert warning is None
    else:
        assert f"appendonly={config['appendonly']}" in warning
        assert "set appendonly yes and appendfsync always" in warning
