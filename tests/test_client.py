"""The Weixin client and credential cache against the sandbox running as a real server."""

import asyncio
import base64
import json
import socket
import subprocess
import sys
import textwrap

import httpx
import pytest

from h5.client import WeixinClient
from h5.credentials import ACCESS_TOKEN
from h5.context import ROOT
from h5.errors import CodeNotFoundError, InvalidCardError, WeixinAPIError, TokenInvalidError, WeixinTransportError
from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.store import open_store
from tests.shared_material import cases

EXAMPLES = ROOT / "examples"


def stats(sandbox) -> dict:
    return httpx.get(f"{sandbox.base_url}/sandbox/stats", timeout=5).json()


def recorded(sandbox, path: str) -> list[dict]:
    return httpx.get(f"{sandbox.base_url}/sandbox/requests", params={"path": path}, timeout=5).json()


async def with_client(sandbox, store_url, steps):
    store = open_store(store_url)
    client = WeixinClient(DEFAULT_APPID, DEFAULT_SECRET, store, sandbox.base_url)
    try:
        return await steps(client)
    finally:
        await client.aclose()
        await store.close()


@pytest.fixture
def store_url(tmp_path):
    return f"sqlite:///{tmp_path / 'client.sqlite3'}"


def test_fifty_concurrent_callers_fetch_once(sandbox, store_url):
    async def steps(client):
        tokens = await asyncio.gather(*(client.access_token() for _ in range(50)))
        tickets = await asyncio.gather(*(client.wx_card_ticket() for _ in range(50)))
        return tokens, tickets

    tokens, tickets = asyncio.run(with_client(sandbox, store_url, steps))
    assert len({t.value for t in tokens}) == 1
    assert len({t.value for t in tickets}) == 1
    counters = stats(sandbox)
    assert counters["token_fetches"] == 1
    assert counters["ticket_fetches"]["wx_card"] == 1


def test_processes_share_one_fetch(sandbox, store_url):
    """Several processes on one SQLite file fetch the token once between them."""
    script = textwrap.dedent(
        f"""
        import asyncio
        from h5.client import WeixinClient
        from h5.store import open_store

        async def main():
            store = open_store({store_url!r})
            client = WeixinClient({DEFAULT_APPID!r}, {DEFAULT_SECRET!r}, store, {sandbox.base_url!r})
            tokens = await asyncio.gather(*(client.access_token() for _ in range(10)))
            print(tokens[0].value)
            await client.aclose()
            await store.close()

        asyncio.run(main())
        """
    )
    workers = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [worker.communicate(timeout=60)[0].strip() for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    assert len(set(outputs)) == 1
    assert stats(sandbox)["token_fetches"] == 1


def test_expired_token_refreshed_once(sandbox, store_url):
    async def steps(client):
        await client.access_token()
        httpx.post(f"{sandbox.base_url}/sandbox/tokens/expire", json={"appid": DEFAULT_APPID}, timeout=5)
        with pytest.raises(InvalidCardError):
            await client.get_card("pUnknownCard0000000000000000")

    asyncio.run(with_client(sandbox, store_url, steps))
    counters = stats(sandbox)
    assert counters["token_fetches"] == 2
    assert counters["calls"]["card/get"] == 2


def test_persistent_token_error_does_not_loop(sandbox, store_url):
    httpx.post(f"{sandbox.base_url}/sandbox/faults", json={"path": "card/get", "errcode": 40001, "count": 10}, timeout=5)

    async def steps(client):
        with pytest.raises(TokenInvalidError) as raised:
            await client.get_card("pAnyCard")
        return raised.value

    error = asyncio.run(with_client(sandbox, store_url, steps))
    assert error.errcode == 40001
    assert error.path == "card/get"
    assert "access_token" not in str(error)
    counters = stats(sandbox)
    assert counters["calls"]["card/get"] == 2
    assert counters["token_fetches"] == 2


def test_newer_token_not_dropped(sandbox, store_url):
    """A failure seen with an older token leaves the newer cached token in place."""

    async def steps(client):
        current = await client.access_token()
        dropped = await client.credentials.invalidate(ACCESS_TOKEN, "an-older-token")
        after = await client.access_token()
        return current, dropped, after

    current, dropped, after = asyncio.run(with_client(sandbox, store_url, steps))
    assert not dropped
    assert after.value == current.value
    assert stats(sandbox)["token_fetches"] == 1


@pytest.mark.parametrize("case", cases("json-body"), ids=lambda c: c["id"])
def test_json_body_is_utf8(sandbox, store_url, case):
    given, expect = case["given"], case["expect"]
    card = json.loads((EXAMPLES / "hotpot-groupon.json").read_text(encoding="utf-8"))["card"]
    card["groupon"]["base_info"]["title"] = given["title"]
    card["groupon"]["base_info"]["brand_name"] = given["brand_name"]

    async def steps(client):
        card_id = await client.create_card(card)
        with pytest.raises(CodeNotFoundError):
            await client.get_code("012345", card_id=card_id)
        return card_id

    card_id = asyncio.run(with_client(sandbox, store_url, steps))
    assert card_id.startswith("p")

    create = recorded(sandbox, "card/create")[-1]
    body = base64.b64decode(create["body_b64"])
    assert create["content_type"] == expect["content_type"]
    assert expect["body_bytes_contain"].encode("utf-8") in body
    assert f'"brand_name":"{given["brand_name"]}"'.encode("utf-8") in body
    assert b"\\u" not in body

    # A numeric-looking code stays a JSON string.
    code_get = base64.b64decode(recorded(sandbox, "card/code/get")[-1]["body_b64"])
    assert b'"code":"012345"' in code_get


def test_unreachable_weixin_is_transport_error(store_url):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    async def steps():
        store = open_store(store_url)
        client = WeixinClient(DEFAULT_APPID, DEFAULT_SECRET, store, f"http://127.0.0.1:{closed_port}")
        try:
            with pytest.raises(WeixinTransportError) as raised:
                await client.access_token()
            return raised.value
        finally:
            await client.aclose()
            await store.close()

    error = asyncio.run(steps())
    assert error.host == f"127.0.0.1:{closed_port}"
    assert error.path == "cgi-bin/token"
    assert DEFAULT_SECRET not in str(error)


def test_wrong_secret_not_hidden_by_cache(sandbox, store_url):
    """A process with a wrong AppSecret gets Weixin's error, not a token cached with the right one."""

    async def steps():
        store = open_store(store_url)
        right = WeixinClient(DEFAULT_APPID, DEFAULT_SECRET, store, sandbox.base_url)
        wrong = WeixinClient(DEFAULT_APPID, "0" * 32, store, sandbox.base_url)
        try:
            await right.access_token()
            # Weixin documents 40001 and 40125 for a wrong AppSecret.
            with pytest.raises(WeixinAPIError) as raised:
                await wrong.access_token()
            return raised.value
        finally:
            await right.aclose()
            await wrong.aclose()
            await store.close()

    error = asyncio.run(steps())
    assert error.errcode in (40001, 40125)
    assert stats(sandbox)["token_fetches"] == 1
