"""Helpers for the event-push tests: a real backend on loopback and pushes signed like Weixin's."""

from __future__ import annotations

import asyncio
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis
from h5.app import create_app
from h5.config import Settings
from h5.serving import ThreadedServer
from h5.store import StoredEvent, open_store
from signer.push import push_signature
from signer.secure import PushCrypto

APPID = "wx1234567890abcdef"
TOKEN = "pushtoken2024"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SECRET_KEY = "test-secret-key-0123456789abcdef"
CARD_ID = "pPLACEHOLDERcardid000000001"

CAMPAIGNS_TOML = f"""
[campaigns.spring]
cards = ["{CARD_ID}"]
"""


def backend_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """Return the environment of a backend storing in ``tmp_path``; nothing points off this machine."""
    campaigns = tmp_path / "campaigns.toml"
    if not campaigns.exists():
        campaigns.write_text(CAMPAIGNS_TOML, encoding="utf-8")
    env = {
        "WXCARD_APPID": APPID,
        "WXCARD_APPSECRET": "s" * 32,
        # Port 9 (discard) on loopback: any accidental API call fails fast and stays local.
        "WXCARD_API_BASE": "http://127.0.0.1:9",
        "WXCARD_CAMPAIGNS": str(campaigns),
        "WXCARD_STORE": f"sqlite:///{tmp_path / 'wxcard.sqlite3'}",
        "WXCARD_SECRET_KEY": SECRET_KEY,
        "WXCARD_PUBLIC_HOSTS": "127.0.0.1",
        "WXCARD_TOKEN": TOKEN,
        "WXCARD_AES_KEY": AES_KEY,
    }
    env.update(overrides)
    return env


@contextmanager
def running_backend(tmp_path: Path, **overrides: str) -> Iterator[tuple[str, Settings]]:
    """Serve the backend app on a free loopback port; yield its base URL and settings."""
    settings = Settings.from_env(backend_env(tmp_path, **overrides))
    server = ThreadedServer(create_app(settings), name="backend").start()
    try:
        yield server.base_url, settings
    finally:
        server.stop()


def stored_events(settings: Settings, **filters: Any) -> list[StoredEvent]:
    """Read the events from the backend's store through a separate connection."""

    async def read() -> list[StoredEvent]:
        store = open_store(settings.store_url)
        try:
            return await store.list_events(**filters)
        finally:
            await store.close()

    return asyncio.run(read())


def event_xml(fields: dict[str, Any]) -> str:
    """Return a plaintext push body with each value in CDATA, as Weixin sends it."""
    parts = []
    for name, value in fields.items():
        text = str(value)
        parts.append(f"<{name}>{text}</{name}>" if isinstance(value, int) else f"<{name}><![CDATA[{text}]]></{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def user_get_card(code: str = "226009850808", create_time: int = 1700000000, outer_str: str = "ch_timeline_01", **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "ToUserName": "gh_fc0a06a20993",
        "FromUserName": "oPLACEHOLDER_openid",
        "CreateTime": create_time,
        "MsgType": "event",
        "Event": "user_get_card",
        "CardId": CARD_ID,
        "IsGiveByFriend": 0,
        "UserCardCode": code,
        "FriendUserName": "",
        "OuterId": 0,
        "OldUserCardCode": "",
        "OuterStr": outer_str,
        "IsRestoreMemberCard": 0,
        "IsRecommendByFriend": 0,
    }
    fields.update(extra)
    return fields


def plaintext_push(fields: dict[str, Any], token: str = TOKEN, timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
    """Return the query and body of a plaintext push signed with ``token``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = str(secrets.randbelow(10**9))
    query = {"signature": push_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce}
    return query, event_xml(fields).encode("utf-8")


def secure_push(
    message: str,
    token: str = TOKEN,
    aes_key: str = AES_KEY,
    appid: str = APPID,
    timestamp: int | None = None,
    plaintext_fields: dict[str, Any] | None = None,
) -> tuple[dict[str, str], bytes]:
    """Return the query and body of a secure-mode push, or a compatible-mode one with ``plaintext_fields``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = str(secrets.randbelow(10**9))
    encrypt = PushCrypto(aes_key, appid).encrypt(message)
    query = {
        "signature": push_signature(token, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "openid": "oPLACEHOLDER_openid",
        "encrypt_type": "aes",
        "msg_signature": push_signature(token, ts, nonce, encrypt),
    }
    inner = "".join(
        f"<{name}><![CDATA[{value}]]></{name}>" for name, value in (plaintext_fields or {}).items() if name != "ToUserName"
    )
    body = f"<xml><ToUserName><![CDATA[gh_fc0a06a20993]]></ToUserName>{inner}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return query, body.encode("utf-8")


def wait_until(condition, timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll ``condition`` until it returns a true value; raise AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {condition.__doc__ or condition}")
        time.sleep(interval)


def require_redis(url: str) -> None:
    """Fail the test, saying what to do, when no Redis responds at ``url``."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.fail("Redis is not running on 127.0.0.1:6379; start it with redis-server (CI starts it)")


def delete_redis_keys(url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` in the Redis database at ``url``."""
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
