"""The card event receiver over real HTTP: URL check, three push modes, dedup, XML attacks,
the webhook outbox across a restart and under two workers, the stores' event methods, and
the events CLI."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from h5.events.forwarder import WebhookForwarder
from h5.events.model import UserConsumeCard, UserGetCard, event_id_for, parse_event
from h5.serving import ThreadedServer
from h5.store import open_store
from h5.store.redis import RedisStore
from signer.push import push_signature
from signer.secure import PushCrypto
from tests.push_helpers import (
    AES_KEY,
    APPID,
    CARD_ID,
    SECRET_KEY,
    TOKEN,
    delete_redis_keys,
    event_xml,
    plaintext_push,
    require_redis,
    running_backend,
    secure_push,
    stored_events,
    user_get_card,
    wait_until,
)
from tests.shared_material import cases, vectors

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/15"


def post_push(base_url: str, query: dict[str, str], body: bytes, timeout: float = 10, **kwargs) -> httpx.Response:
    return httpx.post(f"{base_url}/weixin/events", params=query, content=body, timeout=timeout, **kwargs)


# URL check


@pytest.mark.parametrize("vector", vectors("signatures")["push_signature"], ids=lambda v: v["source"])
def test_url_check_official_vectors(tmp_path, vector):
    echostr = vector.get("echostr", "4375120948345356249")
    query = {"signature": vector["signature"], "timestamp": vector["timestamp"], "nonce": vector["nonce"], "echostr": echostr}
    with running_backend(tmp_path, WXCARD_TOKEN=vector["token"]) as (base_url, _):
        answer = httpx.get(f"{base_url}/weixin/events", params=query)
        assert answer.status_code == 200
        assert answer.text == echostr

        forged = httpx.get(f"{base_url}/weixin/events", params={**query, "signature": "0" * 40})
        assert forged.status_code == 403
        assert echostr not in forged.text

        wrong_nonce = httpx.get(f"{base_url}/weixin/events", params={**query, "nonce": vector["nonce"] + "1"})
        assert wrong_nonce.status_code == 403


# Push modes


def test_plaintext_push_stored_typed(tmp_path):
    fields = user_get_card()
    with running_backend(tmp_path) as (base_url, settings):
        answer = post_push(base_url, *plaintext_push(fields))
        assert answer.status_code == 200
        assert answer.text == "success"
        events = stored_events(settings)

    assert len(events) == 1
    assert events[0].event_id == event_id_for(fields)
    typed = parse_event(events[0].fields)
    assert isinstance(typed, UserGetCard)
    assert typed.outer_str == "ch_timeline_01"
    assert typed.user_card_code == "226009850808"
    assert typed.create_time == 1700000000
    assert typed.friend_user_name is None
    assert typed.is_give_by_friend is False


def test_json_plaintext_push_stored(tmp_path):
    fields = user_get_card(code="555000111222")
    with running_backend(tmp_path) as (base_url, settings):
        query, _ = plaintext_push(fields)
        answer = post_push(base_url, query, json.dumps(fields).encode())
        assert answer.text == "success"
        events = stored_events(settings)
    assert [e.fields["UserCardCode"] for e in events] == ["555000111222"]


def test_secure_push_stored(tmp_path):
    fields = user_get_card(code="100000000001")
    with running_backend(tmp_path) as (base_url, settings):
        answer = post_push(base_url, *secure_push(event_xml(fields)))
        assert answer.status_code == 200
        assert answer.text == "success"
        events = stored_events(settings)
    assert len(events) == 1
    assert events[0].fields["UserCardCode"] == "100000000001"
    assert events[0].fields["OuterStr"] == "ch_timeline_01"


def test_compatible_push_uses_ciphertext(tmp_path):
    fields = user_get_card(code="100000000002")
    # The plaintext copy claims another code; only the authenticated ciphertext counts.
    decoy = {**fields, "UserCardCode": "999999999999"}
    with running_backend(tmp_path) as (base_url, settings):
        answer = post_push(base_url, *secure_push(event_xml(fields), plaintext_fields=decoy))
        assert answer.text == "success"
        events = stored_events(settings)
    assert [e.fields["UserCardCode"] for e in events] == ["100000000002"]


def test_secure_push_other_appid_rejected(tmp_path):
    fields = user_get_card(code="100000000003")
    with running_backend(tmp_path) as (base_url, settings):
        answer = post_push(base_url, *secure_push(event_xml(fields), appid="wxffffffffffffffff"))
        assert answer.status_code == 403
        assert "appid" in answer.text
        assert stored_events(settings) == []


def test_wrong_signatures_rejected(tmp_path):
    fields = user_get_card(code="100000000004")
    with running_backend(tmp_path) as (base_url, settings):
        query, body = plaintext_push(fields, token="not-our-token")
        assert post_push(base_url, query, body).status_code == 403

        query, body = secure_push(event_xml(fields))
        assert post_push(base_url, {**query, "msg_signature": "0" * 40}, body).status_code == 403

        query, body = secure_push(event_xml(fields), token="not-our-token")
        assert post_push(base_url, query, body).status_code == 403

        unsigned = {"timestamp": str(int(time.time())), "nonce": "1"}
        assert post_push(base_url, unsigned, body).status_code == 403
        assert stored_events(settings) == []


def test_stale_timestamp_rejected(tmp_path):
    fields = user_get_card(code="100000000005")
    with running_backend(tmp_path) as (base_url, settings):
        stale = int(time.time()) - settings.push_window - 60
        assert post_push(base_url, *plaintext_push(fields, timestamp=stale)).status_code == 403
        assert post_push(base_url, *secure_push(event_xml(fields), timestamp=stale)).status_code == 403

        future = int(time.time()) + settings.push_window + 60
        assert post_push(base_url, *plaintext_push(fields, timestamp=future)).status_code == 403
        assert stored_events(settings) == []

        # CreateTime is years old here, as on a late retry, and is not what the window checks.
        assert post_push(base_url, *plaintext_push(fields)).text == "success"
        assert len(stored_events(settings)) == 1


def test_unsigned_compatible_push_rejected(tmp_path):
    fields = user_get_card(code="100000000006")
    # A compatible-mode body: plaintext fields beside an Encrypt this server cannot open.
    body = event_xml(fields).replace("</xml>", "<Encrypt><![CDATA[AAAA]]></Encrypt></xml>").encode()
    with running_backend(tmp_path, WXCARD_AES_KEY="") as (base_url, settings):
        unsigned = {"encrypt_type": "aes", "timestamp": str(int(time.time())), "nonce": "1"}
        assert post_push(base_url, unsigned, body).status_code == 403
        assert post_push(base_url, {**unsigned, "msg_signature": "0" * 40}, body).status_code == 403
        assert stored_events(settings) == []

        query, _ = plaintext_push(fields)
        assert post_push(base_url, {**query, "encrypt_type": "aes"}, body).text == "success"
        assert [e.fields["UserCardCode"] for e in stored_events(settings)] == ["100000000006"]


@pytest.mark.parametrize(
    "timestamp",
    ["", "²", "١٧١٤٠٣٧٠٥٩", "9" * 400, "-5", "1714037059.5"],
    ids=["empty", "superscript", "arabic_indic", "huge", "negative", "fraction"],
)
def test_malformed_timestamp_rejected(tmp_path, timestamp):
    fields = user_get_card(code="100000000007")
    with running_backend(tmp_path) as (base_url, settings):
        # Secure mode without the plain signature reaches the window check unsigned.
        query, body = secure_push(event_xml(fields))
        del query["signature"]
        answer = post_push(base_url, {**query, "timestamp": timestamp}, body)
        assert answer.status_code == 403
        assert "timestamp" in answer.text
        assert stored_events(settings) == []


# Dedup


def test_retried_push_stored_once(tmp_path):
    case = cases("push-retry")[0]
    fields = user_get_card(code="226009850808", create_time=1700000000, outer_str="ch_timeline_01")
    with running_backend(tmp_path) as (base_url, settings):
        # Each retry is freshly signed, like Weixin's, with the same event inside.
        answers = [post_push(base_url, *plaintext_push(fields)) for _ in range(3)]
        answers.append(post_push(base_url, *secure_push(event_xml(fields))))
        events = stored_events(settings)
    assert [a.text for a in answers] == ["success"] * 4
    assert len(events) == case["expect"]["stored_events"]


def test_two_codes_same_second_two_events(tmp_path):
    with running_backend(tmp_path) as (base_url, settings):
        for code in ("300000000001", "300000000002"):
            assert post_push(base_url, *plaintext_push(user_get_card(code=code, create_time=1700000100))).text == "success"
        events = stored_events(settings)
    assert sorted(e.fields["UserCardCode"] for e in events) == ["300000000001", "300000000002"]


def test_unknown_event_stored_raw(tmp_path):
    fields = {"ToUserName": "gh_x", "FromUserName": "oUSER", "CreateTime": 1700000200, "MsgType": "event", "Event": "brand_new_event", "Extra": "1"}
    with running_backend(tmp_path) as (base_url, settings):
        assert post_push(base_url, *plaintext_push(fields)).text == "success"
        events = stored_events(settings, event_type="brand_new_event")
    assert len(events) == 1
    assert events[0].fields["Extra"] == "1"


def test_locked_store_stalls_no_request(tmp_path):
    fields = user_get_card(code="300000000003")
    with running_backend(tmp_path) as (base_url, settings):
        # Another process holds the SQLite write lock, as a second worker mid-write would.
        holder = sqlite3.connect(settings.store_url[len("sqlite:///") :], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        replies: list[httpx.Response] = []
        pusher = threading.Thread(target=lambda: replies.append(post_push(base_url, *plaintext_push(fields), timeout=30)))
        pusher.start()
        try:
            # Let the push reach the store and wait there for the lock.
            time.sleep(0.5)
            health = httpx.get(f"{base_url}/healthz", timeout=30)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
            pusher.join(30)

        # The push waited for the lock without holding up the health check, then was stored.
        assert health.status_code == 200
        assert [reply.text for reply in replies] == ["success"]
        assert len(stored_events(settings)) == 1


# Hostile bodies

LOL_BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><FromUserName>&lol9;</FromUserName><MsgType>event</MsgType><Event>user_get_card</Event><CreateTime>1</CreateTime></xml>"""


def hostile_bodies(tmp_path: Path) -> dict[str, str]:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("TOP-SECRET-LINE", encoding="utf-8")
    bodies = {
        "case_external_entity": cases("push-xml")[0]["given"]["bodies"][0],
        "external_entity_local_file": f'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file://{secret_file}">]>'
        "<xml><FromUserName>&x;</FromUserName><MsgType>event</MsgType><Event>e</Event><CreateTime>1</CreateTime></xml>",
        "doctype_only": '<!DOCTYPE xml><xml><MsgType>event</MsgType></xml>',
        "internal_entity": '<!DOCTYPE xml [<!ENTITY a "b">]><xml><FromUserName>&a;</FromUserName></xml>',
        "lower_case_doctype": '<!doctype xml [<!entity a "b">]><xml><FromUserName>&a;</FromUserName></xml>',
        "entity_bomb": LOL_BOMB,
    }
    return bodies


def test_dtd_and_entities_rejected(tmp_path):
    with running_backend(tmp_path) as (base_url, settings):
        for name, body in hostile_bodies(tmp_path).items():
            query, _ = plaintext_push({})
            answer = post_push(base_url, query, body.encode())
            assert answer.status_code == 400, name
            assert "TOP-SECRET-LINE" not in answer.text, name

            # Inside a secure-mode envelope the same bodies are rejected after decryption.
            secure_query, secure_body = secure_push(body)
            assert post_push(base_url, secure_query, secure_body).status_code == 400, name
        assert stored_events(settings) == []


def test_deeply_nested_body_rejected(tmp_path):
    nested = "<xml>" + "<a>" * 5000 + "</a>" * 5000 + "</xml>"
    with running_backend(tmp_path) as (base_url, settings):
        query, _ = plaintext_push({})
        answer = post_push(base_url, query, nested.encode())
        assert answer.status_code == 400
        assert "nested" in answer.text

        # In secure mode the envelope is read before msg_signature can be checked.
        secure_query, _ = secure_push("<xml></xml>")
        del secure_query["signature"]
        assert post_push(base_url, secure_query, nested.encode()).status_code == 400

        json_nested = ('{"a":' * 5000 + "1" + "}" * 5000).encode()
        assert post_push(base_url, query, json_nested).status_code == 400
        assert stored_events(settings) == []


def test_hostile_body_unsigned_rejected_first(tmp_path):
    with running_backend(tmp_path) as (base_url, settings):
        answer = post_push(base_url, {"signature": "0" * 40, "timestamp": str(int(time.time())), "nonce": "1"}, LOL_BOMB.encode())
        assert answer.status_code == 403


def test_oversized_body_413(tmp_path):
    with running_backend(tmp_path) as (base_url, settings):
        filler = "x" * (settings.push_max_body + 1)
        query, _ = plaintext_push({})
        body = event_xml({**user_get_card(code="400000000001"), "Padding": filler}).encode()
        assert post_push(base_url, query, body).status_code == 413

        # Chunked, so no Content-Length announces the size; the stream is counted instead.
        def chunks():
            for start in range(0, len(body), 8192):
                yield body[start : start + 8192]

        answer = httpx.post(f"{base_url}/weixin/events", params=query, content=chunks(), timeout=10)
        assert answer.status_code == 413

        # A body exactly at the limit is accepted.
        at_limit = event_xml(user_get_card(code="400000000002")).encode()
        at_limit = at_limit.replace(b"</xml>", b"<Padding>" + b"y" * (settings.push_max_body - len(at_limit) - 19) + b"</Padding></xml>")
        assert len(at_limit) == settings.push_max_body
        assert post_push(base_url, query, at_limit).text == "success"
        assert [e.fields["UserCardCode"] for e in stored_events(settings)] == ["400000000002"]


# Secure-mode vectors


@pytest.mark.parametrize("vector", vectors("secure_mode"), ids=lambda v: v["source"])
def test_secure_mode_vector(vector):
    crypto = PushCrypto(vector["encoding_aes_key"], vector["appid"])
    assert crypto.encrypt(vector["message"], random_prefix=vector["random"].encode()) == vector["encrypt"]
    assert crypto.decrypt(vector["encrypt"]) == vector["message"]
    assert push_signature(vector["token"], vector["timestamp"], vector["nonce"], vector["encrypt"]) == vector["msg_signature"]


@pytest.mark.parametrize("vector", vectors("secure_mode"), ids=lambda v: v["source"])
def test_secure_mode_vector_through_receiver(tmp_path, vector):
    env = {
        "WXCARD_APPID": vector["appid"],
        "WXCARD_TOKEN": vector["token"],
        "WXCARD_AES_KEY": vector["encoding_aes_key"],
        # The vectors are years old, so the replay window is opened wide for them.
        "WXCARD_PUSH_WINDOW": str(10**10),
    }
    query = {
        "timestamp": vector["timestamp"],
        "nonce": vector["nonce"],
        "encrypt_type": "aes",
        "msg_signature": vector["msg_signature"],
    }
    body = f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[{vector['encrypt']}]]></Encrypt></xml>".encode()
    with running_backend(tmp_path, **env) as (base_url, settings):
        answer = post_push(base_url, query, body)
        events = stored_events(settings)
        tampered = post_push(base_url, {**query, "nonce": vector["nonce"] + "0"}, body)

    message = vector["message"].lstrip()
    if message.startswith(("<xml>", "{")):
        assert answer.text == "success"
    else:
        assert answer.status_code == 400
    is_event = '"MsgType":"event"' in message or "<MsgType><![CDATA[event]]>" in message
    assert len(events) == (1 if is_event else 0)
    assert tampered.status_code == 403


# Webhook outbox


class Merchant:
    """A merchant webhook on loopback that records each request and responds with ``status``."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        # Seconds each request takes, to stand for a slow merchant.
        self.delay = 0.0
        self.lock = threading.Lock()

        async def hook(request: Request) -> PlainTextResponse:
            body = await request.body()
            await asyncio.sleep(self.delay)
            with self.lock:
                self.requests.append({"headers": dict(request.headers), "body": body})
            return PlainTextResponse("ok", status_code=self.status)

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@pytest.fixture(params=["sqlite", "redis"])
def backend_store_url(request, tmp_path):
    """Return a WXCARD_STORE URL of a fresh store; the Redis one uses db 12, for this test only."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wxcard.sqlite3'}"
        return
    url = "redis://127.0.0.1:6379/12"
    require_redis(url)
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


def test_webhook_down_delivered_after_restart(tmp_path, backend_store_url):
    merchant = Merchant()
    # Bound but not yet listening, so the first deliveries are refused.
    merchant_server = ThreadedServer(merchant.app, name="merchant")
    webhook = f"{merchant_server.base_url}/hook"
    fields = user_get_card(code="500000000001")

    with running_backend(tmp_path, WXCARD_WEBHOOK_URL=webhook, WXCARD_STORE=backend_store_url) as (base_url, settings):
        assert post_push(base_url, *plaintext_push(fields)).text == "success"

        def failed_once():
            """the first webhook attempt failed"""
            pending = asyncio.run(_pending(settings.store_url))
            return pending and pending[0].attempts >= 1

        wait_until(failed_once)

    pending = asyncio.run(_pending(settings.store_url))
    assert [p.event_id for p in pending] == [event_id_for(fields)]
    assert "Connect" in pending[0].last_error

    with merchant_server, running_backend(tmp_path, WXCARD_WEBHOOK_URL=webhook, WXCARD_STORE=backend_store_url) as (base_url, settings):

        def delivered():
            """the webhook received the event"""
            return merchant.requests

        wait_until(delivered)
        wait_until(lambda: not asyncio.run(_pending(settings.store_url)))
        events = stored_events(settings)

    assert len(merchant.requests) == 1
    request = merchant.requests[0]
    headers, body = request["headers"], request["body"]
    expected = hmac.new(SECRET_KEY.encode(), headers["x-wxcard-timestamp"].encode() + b"." + body, hashlib.sha256)
    assert headers["x-wxcard-signature"] == "sha256=" + expected.hexdigest()
    assert headers["x-wxcard-event-id"] == event_id_for(fields)
    payload = json.loads(body)
    assert payload["id"] == event_id_for(fields)
    assert payload["event"] == "user_get_card"
    assert payload["fields"]["UserCardCode"] == "500000000001"
    assert payload["data"]["outer_str"] == "ch_timeline_01"
    assert events[0].delivered_at is not None


def test_webhook_retries_until_2xx(tmp_path):
    merchant = Merchant()
    merchant.status = 503
    with ThreadedServer(merchant.app, name="merchant") as merchant_server:
        webhook = f"{merchant_server.base_url}/hook"
        with running_backend(tmp_path, WXCARD_WEBHOOK_URL=webhook) as (base_url, settings):
            assert post_push(base_url, *plaintext_push(user_get_card(code="500000000002"))).text == "success"
            wait_until(lambda: len(merchant.requests) >= 2)
            merchant.status = 200
            wait_until(lambda: not asyncio.run(_pending(settings.store_url)))
            attempts = len(merchant.requests)
    ids = {r["headers"]["x-wxcard-event-id"] for r in merchant.requests}
    assert len(ids) == 1
    assert attempts >= 3


def test_two_forwarders_deliver_once(shared_store):
    merchant = Merchant()
    merchant.delay = 0.2
    events = [user_get_card(code=f"51000000{n:04d}") for n in range(30)]

    async def scenario(webhook: str) -> None:
        stores = [shared_store(), shared_store()]
        forwarders = []
        try:
            for fields in events:
                assert await stores[0].add_event(event_id_for(fields), fields, time.time(), forward=True)
            # Two workers on one store, as with wxcard serve --workers 2. The lease is short
            # here so that a claim outliving it would show up as a second delivery.
            for store in stores:
                forwarder = WebhookForwarder(store, webhook, SECRET_KEY, timeout=1.0, lease=3.0)
                forwarder.start()
                forwarders.append(forwarder)
            deadline = time.monotonic() + 60
            while await stores[0].pending_deliveries():
                assert time.monotonic() < deadline, "the backlog was not delivered within 60 s"
                await asyncio.sleep(0.1)
        finally:
            for forwarder in forwarders:
                await forwarder.stop()
            for store in stores:
                await store.close()

    with ThreadedServer(merchant.app, name="merchant") as merchant_server:
        asyncio.run(scenario(f"{merchant_server.base_url}/hook"))

    delivered = sorted(r["headers"]["x-wxcard-event-id"] for r in merchant.requests)
    assert delivered == sorted(event_id_for(fields) for fields in events)


def test_two_workers_store_once(tmp_path, backend_store_url):
    merchant = Merchant()
    retried = user_get_card(code="520000000001", create_time=1700000700)
    same_second = user_get_card(code="520000000002", create_time=1700000700)
    with ThreadedServer(merchant.app, name="merchant") as merchant_server:
        env = {"WXCARD_STORE": backend_store_url, "WXCARD_WEBHOOK_URL": f"{merchant_server.base_url}/hook"}
        with running_backend(tmp_path, **env) as (first_url, settings), running_backend(tmp_path, **env) as (second_url, _):
            # Weixin's retries of one push reach both workers at the same moment.
            pushes = [(url, plaintext_push(retried)) for url in (first_url, second_url) for _ in range(3)]
            pushes.append((second_url, plaintext_push(same_second)))
            start = threading.Barrier(len(pushes))

            def send(url: str, push: tuple[dict[str, str], bytes]) -> str:
                start.wait(30)
                return post_push(url, *push).text

            with ThreadPoolExecutor(len(pushes)) as pool:
                replies = list(pool.map(lambda item: send(*item), pushes))

            def all_forwarded():
                """both events were forwarded"""
                return not asyncio.run(_pending(settings.store_url))

            wait_until(all_forwarded)
            events = stored_events(settings)

    assert replies == ["success"] * len(pushes)
    assert sorted(e.fields["UserCardCode"] for e in events) == ["520000000001", "520000000002"]
    forwarded = sorted(r["headers"]["x-wxcard-event-id"] for r in merchant.requests)
    assert forwarded == sorted([event_id_for(retried), event_id_for(same_second)])


async def _pending(store_url: str):
    store = open_store(store_url)
    try:
        return await store.pending_deliveries()
    finally:
        await store.close()


# Store event methods, on both stores


@pytest.fixture(params=["sqlite", "redis"])
def event_store(request, tmp_path):
    if request.param == "sqlite":
        store = open_store(f"sqlite:///{tmp_path / 'events.sqlite3'}")
        yield store
        return
    require_redis(REDIS_URL)
    prefix = f"test-events-{secrets.token_hex(4)}:"
    yield RedisStore(REDIS_URL, prefix=prefix)
    delete_redis_keys(REDIS_URL, prefix)


@pytest.fixture(params=["sqlite", "redis"])
def shared_store(request, tmp_path):
    """Return a function that opens another connection to one fresh store."""
    if request.param == "sqlite":
        path = tmp_path / "shared.sqlite3"
        yield lambda: open_store(f"sqlite:///{path}")
        return
    require_redis(REDIS_URL)
    prefix = f"test-shared-{secrets.token_hex(4)}:"
    yield lambda: RedisStore(REDIS_URL, prefix=prefix)
    delete_redis_keys(REDIS_URL, prefix)


def test_store_events_and_outbox(event_store):
    async def scenario():
        now = time.time()
        got = user_get_card(code="600000000001")
        consumed = {**got, "Event": "user_consume_card", "CreateTime": 1700000300}
        other_card = {**got, "CardId": "pOTHER", "UserCardCode": "600000000002"}
        try:
            assert await event_store.add_event(event_id_for(got), got, now, forward=True)
            assert not await event_store.add_event(event_id_for(got), got, now + 1, forward=True)
            assert await event_store.add_event(event_id_for(consumed), consumed, now + 2, forward=False)
            assert await event_store.add_event(event_id_for(other_card), other_card, now + 3, forward=True)

            listed = await event_store.list_events()
            assert [e.event_id for e in listed] == [event_id_for(got), event_id_for(consumed), event_id_for(other_card)]
            assert [e.event_id for e in await event_store.list_events(event_type="user_consume_card")] == [event_id_for(consumed)]
            assert [e.event_id for e in await event_store.list_events(card_id="pOTHER")] == [event_id_for(other_card)]
            assert len(await event_store.list_events(since=now + 1.5)) == 2
            assert (await event_store.get_event(event_id_for(got))).fields["UserCardCode"] == "600000000001"

            # Only forwarded events are in the outbox; a claim hides them until the lease ends.
            claimed = await event_store.claim_deliveries(now + 10, lease=30)
            assert sorted(d.event_id for d in claimed) == sorted([event_id_for(got), event_id_for(other_card)])
            assert await event_store.claim_deliveries(now + 10, lease=30) == []
            assert len(await event_store.claim_deliveries(now + 41, lease=30)) == 2

            await event_store.reschedule_delivery(event_id_for(got), 3, now + 100, "HTTP 503")
            await event_store.finish_delivery(event_id_for(other_card), now + 50)
            pending = await event_store.pending_deliveries()
            assert [(d.event_id, d.attempts, d.last_error) for d in pending] == [(event_id_for(got), 3, "HTTP 503")]
            assert (await event_store.get_event(event_id_for(other_card))).delivered_at == now + 50
        finally:
            await event_store.close()

    asyncio.run(scenario())


def test_late_reschedule_leaves_nothing(event_store):
    async def scenario():
        now = time.time()
        fields = user_get_card(code="600000000003")
        event_id = event_id_for(fields)
        try:
            assert await event_store.add_event(event_id, fields, now, forward=True)
            assert len(await event_store.claim_deliveries(now, lease=30)) == 1
            # One worker delivered; another, whose lease had run out, reports a failure late.
            await event_store.finish_delivery(event_id, now + 1)
            await event_store.reschedule_delivery(event_id, 1, now + 2, "HTTP 503")

            assert await event_store.pending_deliveries() == []
            assert await event_store.claim_deliveries(now + 100, lease=30) == []
            assert (await event_store.get_event(event_id)).delivered_at == now + 1
            if isinstance(event_store, RedisStore):
                client = redis.Redis.from_url(REDIS_URL)
                assert client.hlen(event_store.prefix + "outbox:attempts") == 0
                assert client.hlen(event_store.prefix + "outbox:errors") == 0
        finally:
            await event_store.close()

    asyncio.run(scenario())


# Typed events


def test_typed_event_optional_fields():
    restored = user_get_card(IsRestoreMemberCard="1")
    del restored["OuterStr"]
    event = parse_event(restored)
    assert isinstance(event, UserGetCard)
    assert event.is_restore_member_card is True
    assert event.outer_str is None

    consume = parse_event(
        {"ToUserName": "gh", "FromUserName": "o", "CreateTime": "1472549042", "MsgType": "event", "Event": "user_consume_card",
         "CardId": "pZI8Fj8y-E8hpvho2d1ZvpGwQBvA", "UserCardCode": "452998530302", "ConsumeSource": "FROM_API",
         "LocationName": "", "StaffOpenId": "oZ********nJ3bPJu_Rtjkw4c", "VerifyCode": "", "RemarkAmount": "", "OuterStr": "xxxxx"}
    )
    assert isinstance(consume, UserConsumeCard)
    assert consume.consume_source == "FROM_API"
    assert consume.location_name is None
    assert consume.outer_str == "xxxxx"

    missing_card = parse_event({**user_get_card(), "CardId": ""})
    assert type(missing_card).__name__ == "RawEvent"
    assert missing_card.fields["Event"] == "user_get_card"

    # A CreateTime that str.isdigit() accepts but int() does not is kept raw, not raised.
    odd_time = parse_event({**user_get_card(), "CreateTime": "²"})
    assert type(odd_time).__name__ == "RawEvent"
    assert odd_time.create_time == 0
    assert odd_time.fields["CreateTime"] == "²"


# CLI


def wxcard(tmp_path: Path, *args: str, store_url: str | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("WXCARD_")}
    env["PYTHONPATH"] = str(ROOT)
    if store_url:
        env["WXCARD_STORE"] = store_url
    return subprocess.run(
        [sys.executable, "-m", "h5.cli.main", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


def test_events_and_report_cli(tmp_path):
    with running_backend(tmp_path) as (base_url, settings):
        for code, channel in (("700000000001", "ch_a"), ("700000000002", "ch_a"), ("700000000003", "ch_b")):
            assert post_push(base_url, *plaintext_push(user_get_card(code=code, outer_str=channel))).text == "success"
        consume = {**user_get_card(code="700000000001"), "Event": "user_consume_card", "CreateTime": 1700000500}
        delete = {**user_get_card(code="700000000003"), "Event": "user_del_card", "CreateTime": 1700000600}
        for fields in (consume, delete):
            assert post_push(base_url, *plaintext_push(fields)).text == "success"

    listed = wxcard(tmp_path, "events", "--json", store_url=settings.store_url)
    assert listed.returncode == 0, listed.stderr
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [line["event"] for line in lines] == ["user_get_card"] * 3 + ["user_consume_card", "user_del_card"]
    assert lines[0]["fields"]["UserCardCode"] == "********0001"
    assert "700000000001" not in listed.stdout

    only_consumed = wxcard(tmp_path, "events", "--json", "--event", "user_consume_card", "--card-id", CARD_ID, store_url=settings.store_url)
    assert len(only_consumed.stdout.splitlines()) == 1
    future = wxcard(tmp_path, "events", "--since", "2999-01-01T00:00:00+00:00", store_url=settings.store_url)
    assert future.returncode == 0
    assert future.stdout == ""
    past = wxcard(tmp_path, "events", "--since", "0", store_url=settings.store_url)
    assert len(past.stdout.splitlines()) == 5

    report = wxcard(tmp_path, "report", "--json", store_url=settings.store_url)
    assert report.returncode == 0, report.stderr
    rows = {row["outer_str"]: row for row in map(json.loads, report.stdout.splitlines())}
    assert rows["ch_a"] == {"outer_str": "ch_a", "card_id": CARD_ID, "received": 2, "consumed": 1, "deleted": 0, "conversion_rate": 0.5}
    assert rows["ch_b"]["deleted"] == 1
    assert rows["ch_b"]["conversion_rate"] == 0.0

    table = wxcard(tmp_path, "report", store_url=settings.store_url)
    assert "50.0%" in table.stdout


def test_cli_bad_usage_one_line(tmp_path):
    store_url = f"sqlite:///{tmp_path / 'wxcard.sqlite3'}"
    for since in ("yesterday", "nan", "inf"):
        bad_since = wxcard(tmp_path, "events", "--since", since, store_url=store_url)
        assert bad_since.returncode == 2, since
        assert len(bad_since.stderr.strip().splitlines()) == 1, since
        assert "--since" in bad_since.stderr, since

    bad_store = wxcard(tmp_path, "report", store_url="mysql://nowhere")
    assert bad_store.returncode == 2
    assert len(bad_store.stderr.strip().splitlines()) == 1
    assert "WXCARD_STORE" in bad_store.stderr

    missing = wxcard(tmp_path, "events")
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr
    assert not (tmp_path / "wxcard.sqlite3").exists()
