"""Two backends behind one load balancer share Redis and fetch each credential once between them."""

from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from h5.app import create_app
from h5.config import Settings
from h5.context import ROOT
from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.serving import ThreadedServer
from h5.store import open_store

REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
def redis_url():
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.fail("Redis is not running on 127.0.0.1:6379; start it with redis-server (CI starts it)")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


def approved_card(sandbox) -> str:
    body = json.loads((ROOT / "examples" / "hotpot-groupon.json").read_text(encoding="utf-8"))
    card_id = sandbox.state.create_card(DEFAULT_APPID, body)
    sandbox.state.set_card_status(card_id, "CARD_STATUS_VERIFY_OK")
    return card_id


def backend_settings(tmp_path: Path, sandbox, card_id: str, store_url: str) -> Settings:
    campaigns = tmp_path / "campaigns.toml"
    campaigns.write_text(f'[campaigns.shared]\ncards = ["{card_id}"]\n', encoding="utf-8")
    return Settings.from_env(
        {
            "WXCARD_APPID": DEFAULT_APPID,
            "WXCARD_APPSECRET": DEFAULT_SECRET,
            "WXCARD_API_BASE": sandbox.base_url,
            "WXCARD_CAMPAIGNS": str(campaigns),
            "WXCARD_STORE": store_url,
            "WXCARD_SECRET_KEY": secrets.token_urlsafe(24),
            "WXCARD_PUBLIC_HOSTS": "127.0.0.1",
        }
    )


def test_two_backends_fetch_once(sandbox, tmp_path, redis_url):
    card_id = approved_card(sandbox)
    settings = backend_settings(tmp_path, sandbox, card_id, redis_url)
    # A slow token endpoint keeps the first fetch in flight while both backends ask for it.
    for path in ("cgi-bin/token", "cgi-bin/ticket/getticket"):
        httpx.post(f"{sandbox.base_url}/sandbox/faults", json={"path": path, "delay": 0.5, "count": 3}).raise_for_status()
    first = ThreadedServer(create_app(settings, open_store(redis_url)), name="backend-1").start()
    second = ThreadedServer(create_app(settings, open_store(redis_url)), name="backend-2").start()
    try:
        bases = [first.base_url, second.base_url]
        page_url = f"{first.base_url}/cards/shared"

        def request(index: int) -> int:
            base = bases[index % 2]
            path = "/cards/shared/card-ext" if index % 3 else "/jssdk/config"
            params = {"url": page_url} if path == "/jssdk/config" else {"outer_str": "ch_lb"}
            return httpx.get(base + path, params=params, timeout=30).status_code

        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(request, range(100)))
    finally:
        first.stop()
        second.stop()

    assert statuses == [200] * 100
    stats = httpx.get(f"{sandbox.base_url}/sandbox/stats").json()
    assert stats["token_fetches"] == 1
    assert stats["ticket_fetches"]["jsapi"] == 1
    assert stats["ticket_fetches"]["wx_card"] == 1
