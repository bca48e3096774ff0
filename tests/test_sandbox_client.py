"""The sandbox's client simulator and pusher driving a real backend over loopback HTTP."""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from h5.client import WeixinClient
from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.sandbox.pusher import pusher_for
from h5.sandbox.server import SandboxServer
from h5.serving import ThreadedServer
from signer.card import build_card_ext
from tests.push_helpers import AES_KEY, TOKEN, running_backend, stored_events, wait_until
from tests.test_events import wxcard

EXAMPLE_CARD = Path(__file__).resolve().parent.parent / "examples" / "hotpot-groupon.json"
OPENID = "oUSER_client_sim_0001"


def create_card(sandbox: SandboxServer) -> str:
    body = copy.deepcopy(json.loads(EXAMPLE_CARD.read_text(encoding="utf-8")))
    body["card"]["groupon"]["base_info"]["get_limit"] = 50
    card_id = sandbox.state.create_card(DEFAULT_APPID, body)
    sandbox.state.set_card_status(card_id, "CARD_STATUS_VERIFY_OK")
    return card_id


def backend_overrides(sandbox: SandboxServer, tmp_path: Path, card_id: str) -> dict[str, str]:
    campaigns = tmp_path / "campaigns.toml"
    campaigns.write_text(f'[campaigns.spring]\ncards = ["{card_id}"]\n', encoding="utf-8")
    return {
        "WXCARD_APPID": DEFAULT_APPID,
        "WXCARD_APPSECRET": DEFAULT_SECRET,
        "WXCARD_API_BASE": sandbox.base_url,
        "WXCARD_CAMPAIGNS": str(campaigns),
    }


def configure_push(sandbox: SandboxServer, url: str, mode: str = "plaintext", **extra) -> dict:
    payload = {"url": url, "mode": mode, "token": TOKEN, "encoding_aes_key": AES_KEY, **extra}
    answer = httpx.post(f"{sandbox.base_url}/sandbox/push-config", json=payload)
    assert answer.status_code == 200, answer.text
    return answer.json()


def wx_card_ticket(settings) -> str:
    async def fetch() -> str:
        from h5.store import open_store

        store = open_store(settings.store_url)
        async with WeixinClient(settings.appid, settings.appsecret, store, settings.api_base) as client:
            ticket = (await client.wx_card_ticket()).value
        await store.close()
        return ticket

    return asyncio.run(fetch())


def signed_card_ext(ticket: str, card_id: str, outer_str: str) -> str:
    ext = build_card_ext(ticket, card_id, str(int(time.time())), secrets.token_hex(8), outer_str=outer_str)
    return ext.card_ext


def add_card(sandbox: SandboxServer, card_id: str, card_ext: str, openid: str = OPENID) -> httpx.Response:
    payload = {"appid": DEFAULT_APPID, "openid": openid, "card_list": [{"card_id": card_id, "card_ext": card_ext}]}
    return httpx.post(f"{sandbox.base_url}/sandbox/client/add-card", json=payload)


def consume(settings, encrypt_code: str) -> None:
    async def run() -> None:
        from h5.store import open_store

        store = open_store(settings.store_url)
        async with WeixinClient(settings.appid, settings.appsecret, store, settings.api_base) as client:
            code = await client.decrypt_code(encrypt_code)
            await client.consume_code(code)
        await store.close()

    asyncio.run(run())


@pytest.mark.parametrize("mode", ["plaintext", "secure"])
def test_client_simulator_end_to_end(sandbox, tmp_path, mode):
    card_id = create_card(sandbox)
    with running_backend(tmp_path, **backend_overrides(sandbox, tmp_path, card_id)) as (backend_url, settings):
        configure_push(sandbox, f"{backend_url}/weixin/events", mode)
        card_ext = signed_card_ext(wx_card_ticket(settings), card_id, "ch_landing_01")

        added = add_card(sandbox, card_id, card_ext)
        assert added.status_code == 200, added.text
        [entry] = added.json()["card_list"]
        assert entry["is_succ"] == 1
        assert entry["card_id"] == card_id
        assert entry["card_ext"] == card_ext

        got = wait_until(lambda: stored_events(settings, event_type="user_get_card"))
        assert got[0].fields["OuterStr"] == "ch_landing_01"
        assert got[0].fields["FromUserName"] == OPENID
        assert got[0].fields["CardId"] == card_id

        consume(settings, entry["code"])
        consumed = wait_until(lambda: stored_events(settings, event_type="user_consume_card"))
        assert consumed[0].fields["UserCardCode"] == got[0].fields["UserCardCode"]
        assert pusher_for(sandbox.state).wait_idle()

    report = wxcard(tmp_path, "report", "--json", store_url=settings.store_url)
    rows = [json.loads(line) for line in report.stdout.splitlines()]
    assert rows == [
        {"outer_str": "ch_landing_01", "card_id": card_id, "received": 1, "consumed": 1, "deleted": 0, "conversion_rate": 1.0}
    ]
    table = wxcard(tmp_path, "report", store_url=settings.store_url)
    assert "100.0%" in table.stdout


def test_delete_card_pushes_user_del_card(sandbox, tmp_path):
    card_id = create_card(sandbox)
    with running_backend(tmp_path, **backend_overrides(sandbox, tmp_path, card_id)) as (backend_url, settings):
        configure_push(sandbox, f"{backend_url}/weixin/events")
        added = add_card(sandbox, card_id, signed_card_ext(wx_card_ticket(settings), card_id, "ch_poster"))
        encrypt_code = added.json()["card_list"][0]["code"]
        code = sandbox.state._decrypt(encrypt_code)

        other_user = httpx.post(f"{sandbox.base_url}/sandbox/client/delete-card", json={"openid": "oSOMEONE_else", "code": code})
        assert other_user.status_code == 409
        deleted = httpx.post(f"{sandbox.base_url}/sandbox/client/delete-card", json={"openid": OPENID, "code": code})
        assert deleted.status_code == 200, deleted.text
        again = httpx.post(f"{sandbox.base_url}/sandbox/client/delete-card", json={"openid": OPENID, "code": code})
        assert again.status_code == 409

        events = wait_until(lambda: stored_events(settings, event_type="user_del_card"))
        assert events[0].fields["UserCardCode"] == code
        assert pusher_for(sandbox.state).wait_idle()
        assert len(stored_events(settings, event_type="user_del_card")) == 1


def test_add_card_rejects_bad_card_ext(sandbox, tmp_path):
    card_id = create_card(sandbox)
    with running_backend(tmp_path, **backend_overrides(sandbox, tmp_path, card_id)) as (backend_url, settings):
        configure_push(sandbox, f"{backend_url}/weixin/events")
        ticket = wx_card_ticket(settings)

        tampered = json.loads(signed_card_ext(ticket, card_id, "ch_a"))
        tampered["signature"] = "0" * 40
        answer = add_card(sandbox, card_id, json.dumps(tampered))
        assert answer.status_code == 409
        assert answer.json()["errcode"] == 40080

        wrong_ticket = signed_card_ext("not-the-ticket", card_id, "ch_a")
        assert add_card(sandbox, card_id, wrong_ticket).json()["errcode"] == 40080

        millis = build_card_ext(ticket, card_id, str(int(time.time() * 1000))[:10], "n1").card_ext
        millis_ext = json.loads(millis)
        millis_ext["timestamp"] = str(int(time.time() * 1000))
        assert add_card(sandbox, card_id, json.dumps(millis_ext)).json()["errcode"] == 40080

        # A signed card_ext works once; its nonce_str and timestamp cannot be used again.
        good = signed_card_ext(ticket, card_id, "ch_a")
        assert add_card(sandbox, card_id, good).status_code == 200
        reused = add_card(sandbox, card_id, good)
        assert reused.status_code == 409
        assert reused.json()["errcode"] == 40080

        assert pusher_for(sandbox.state).wait_idle()
        assert len(stored_events(settings, event_type="user_get_card")) == 1


class SlowFirstProxy:
    """A loopback proxy to the backend that delays its first response past the pusher's timeout."""

    def __init__(self, target: str, hold: float) -> None:
        self.target = target
        self.hold = hold
        self.seen: list[bytes] = []
        self.lock = threading.Lock()

        async def forward(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.seen.append(body)
                first = len(self.seen) == 1
            async with httpx.AsyncClient() as client:
                answer = await client.post(self.target, params=dict(request.query_params), content=body)
            if first:
                # The backend has stored the event, but Weixin's side gives up before this response.
                await asyncio.sleep(self.hold)
            return Response(answer.content, status_code=answer.status_code)

        self.app = Starlette(routes=[Route("/weixin/events", forward, methods=["POST"])])


def test_sandbox_retries_stored_once(sandbox, tmp_path):
    card_id = create_card(sandbox)
    with running_backend(tmp_path, **backend_overrides(sandbox, tmp_path, card_id)) as (backend_url, settings):
        proxy = SlowFirstProxy(f"{backend_url}/weixin/events", hold=2.0)
        with ThreadedServer(proxy.app, name="slow-proxy") as proxy_server:
            configure_push(sandbox, f"{proxy_server.base_url}/weixin/events", "secure", timeout=0.5)
            added = add_card(sandbox, card_id, signed_card_ext(wx_card_ticket(settings), card_id, "ch_retry"))
            assert added.status_code == 200
            assert pusher_for(sandbox.state).wait_idle()

        status = httpx.get(f"{sandbox.base_url}/sandbox/push-config").json()
        events = stored_events(settings)

    assert len(proxy.seen) == 2
    assert proxy.seen[0] == proxy.seen[1]
    assert status["deliveries"][-1]["attempts"] == 2
    assert status["deliveries"][-1]["status"] == 200
    assert "token" not in json.dumps(status["config"])
    assert [e.fields["Event"] for e in events] == ["user_get_card"]


def test_pusher_three_attempts_when_down(sandbox, tmp_path):
    card_id = create_card(sandbox)
    # A bound socket that never listens refuses every connection.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        configure_push(sandbox, f"http://127.0.0.1:{closed.getsockname()[1]}/weixin/events")
        sandbox.state.issue_code(DEFAULT_APPID, card_id, OPENID, outer_str="ch_down")
        assert pusher_for(sandbox.state).wait_idle()
    outcome = httpx.get(f"{sandbox.base_url}/sandbox/push-config").json()["deliveries"][-1]
    assert outcome["attempts"] == 3
    assert outcome["status"] is None
    assert outcome["event"] == "user_get_card"


def test_push_config_rejects_bad_values(sandbox):
    bad = [
        {"url": "ftp://127.0.0.1/x", "token": TOKEN},
        {"url": "http://127.0.0.1:1/x", "mode": "loud", "token": TOKEN},
        {"url": "http://127.0.0.1:1/x"},
        {"url": "http://127.0.0.1:1/x", "mode": "secure", "token": TOKEN, "encoding_aes_key": "short"},
    ]
    for payload in bad:
        answer = httpx.post(f"{sandbox.base_url}/sandbox/push-config", json=payload)
        assert answer.status_code == 400, payload
    off = httpx.post(f"{sandbox.base_url}/sandbox/push-config", json={"url": None})
    assert off.json()["config"] is None


def test_add_card_takes_wx_add_card_shape(sandbox, tmp_path):
    """The card-ext endpoint's JSON can be posted as is, with the openid in the query string."""
    card_id = create_card(sandbox)
    with running_backend(tmp_path, **backend_overrides(sandbox, tmp_path, card_id)) as (backend_url, settings):
        configure_push(sandbox, f"{backend_url}/weixin/events")
        card_list = httpx.get(f"{backend_url}/cards/spring/card-ext", params={"outer_str": "ch_piped"}).json()

        added = httpx.post(f"{sandbox.base_url}/sandbox/client/add-card", params={"openid": OPENID}, json=card_list)
        assert added.status_code == 200, added.text
        [entry] = added.json()["card_list"]
        assert entry["is_succ"] == 1
        assert entry["card_ext"] == card_list["cardList"][0]["cardExt"]

        got = wait_until(lambda: stored_events(settings, event_type="user_get_card"))
        assert got[0].fields["OuterStr"] == "ch_piped"
        assert got[0].fields["FromUserName"] == OPENID


def sandbox_wx_card_ticket(sandbox: SandboxServer) -> str:
    token = httpx.get(
        f"{sandbox.base_url}/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": DEFAULT_APPID, "secret": DEFAULT_SECRET},
    ).json()["access_token"]
    params = {"access_token": token, "type": "wx_card"}
    return httpx.get(f"{sandbox.base_url}/cgi-bin/ticket/getticket", params=params).json()["ticket"]


def test_add_card_rejects_non_ascii_signature(sandbox):
    card_id = create_card(sandbox)
    ext = json.loads(signed_card_ext(sandbox_wx_card_ticket(sandbox), card_id, "ch_a"))
    ext["signature"] = "签" * 40
    answer = add_card(sandbox, card_id, json.dumps(ext, ensure_ascii=False))
    assert answer.status_code == 409, answer.text
    assert answer.json()["errcode"] == 40080


def test_add_card_rejects_long_nonce_str(sandbox):
    card_id = create_card(sandbox)
    ticket = sandbox_wx_card_ticket(sandbox)
    long_nonce = build_card_ext(ticket, card_id, str(int(time.time())), "n" * 33).card_ext
    answer = add_card(sandbox, card_id, long_nonce)
    assert answer.status_code == 409, answer.text
    assert answer.json()["errcode"] == 40080
    longest = build_card_ext(ticket, card_id, str(int(time.time())), "n" * 32).card_ext
    assert add_card(sandbox, card_id, longest).status_code == 200


def test_push_config_rejects_non_ascii_key(sandbox):
    payload = {"url": "http://127.0.0.1:1/x", "mode": "secure", "token": TOKEN, "encoding_aes_key": "é" * 43}
    answer = httpx.post(f"{sandbox.base_url}/sandbox/push-config", json=payload)
    assert answer.status_code == 400, answer.text
    assert "EncodingAESKey" in answer.json()["error"]
