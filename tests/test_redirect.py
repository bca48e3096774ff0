"""The custom-entry redirect, hand-over and merchant API, end to end against the sandbox.

Each test runs the real backend (``create_app`` on uvicorn), the sandbox and a small
merchant page, all on loopback. Requests in the role of the Weixin WebView go through
``http.client``, which sends the query string byte for byte and logs nothing.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from h5 import handoff
from h5.app import create_app
from h5.config import Settings
from h5.merchant_demo import MerchantPage
from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.sandbox.server import SandboxServer
from h5.serving import ThreadedServer
from tests.shared_material import cases

SECRET_KEY = "redirect-test-secret-key-7f3a9c2e"
MERCHANT_KEY = "merchant-test-key-51d0b8e4a6"
OPENID = "oUSER_redirect_0001"
OTHER_OPENID = "oUSER_someone_else_02"
EXAMPLE_CARD = Path(__file__).resolve().parent.parent / "examples" / "hotpot-groupon.json"
ENGLISH_UA = "Mozilla/5.0 (iPhone) MicroMessenger/8.0.47 NetType/WIFI Language/en"
CHINESE_UA = "Mozilla/5.0 (iPhone) MicroMessenger/8.0.47 NetType/WIFI Language/zh_CN"
UNUSABLE_STATUSES = ["CONSUMED", "EXPIRE", "DELETE", "UNAVAILABLE", "GIFTING", "GIFT_TIMEOUT"]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(base_url: str, path_and_query: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None) -> Reply:
    """Send one request exactly as written, without following redirects."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path_and_query, body=body, headers=headers or {})
        response = connection.getresponse()
        text = response.read().decode("utf-8")
        return Reply(response.status, {name.lower(): value for name, value in response.getheaders()}, text)
    finally:
        connection.close()


def post_json(base_url: str, path: str, payload: Any, key: str | None = MERCHANT_KEY, headers: dict[str, str] | None = None) -> Reply:
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        all_headers["Authorization"] = f"Bearer {key}"
    return fetch(base_url, path, "POST", all_headers, json.dumps(payload).encode("utf-8"))


@dataclass
class Merchant:
    """A merchant's H5 page: it receives the hand-over and verifies it with its backend call."""

    backend: dict[str, str] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)

    async def landing(self, request: Request) -> JSONResponse:
        token = request.query_params.get("handoff", "")
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.post(
                f"{self.backend['url']}/cards/handoff/verify",
                json={"token": token},
                headers={"Authorization": f"Bearer {MERCHANT_KEY}"},
            )
        result = {"query": sorted(request.query_params.keys()), "status": response.status_code, "handoff": response.json()}
        self.received.append(result)
        return JSONResponse(result)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/coupon", self.landing), Route("/other/coupon", self.landing)])


@dataclass
class Flow:
    """The started sandbox, backend and merchant page, with the cards of the campaign file."""

    sandbox: SandboxServer
    backend_url: str
    merchant_url: str
    merchant: Merchant
    card: str
    plain_card: str
    loose_card: str
    custom_entry: str = "/cards/redirect"

    def issue(self, card_id: str | None = None, openid: str = OPENID, outer_str: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"appid": DEFAULT_APPID, "card_id": card_id or self.card, "openid": openid}
        if outer_str:
            payload["outer_str"] = outer_str
        reply = post_json(self.sandbox.base_url, "/sandbox/codes/issue", payload, key=None)
        assert reply.status == 200, reply.body
        return reply.json()

    def set_status(self, code: str, status: str) -> None:
        reply = post_json(self.sandbox.base_url, "/sandbox/codes/status", {"code": code, "status": status}, key=None)
        assert reply.status == 200, reply.body

    def weixin_url(self, code: str, base: str | None = None) -> str:
        """Return the path and query Weixin opens for ``code``, built by the sandbox."""
        target = base or f"{self.backend_url}{self.custom_entry}"
        reply = fetch(self.sandbox.base_url, "/sandbox/redirect-url?" + urlencode({"code": code, "url": target}))
        assert reply.status == 200, reply.body
        parts = urlsplit(reply.json()["url"])
        return f"{parts.path}?{parts.query}"

    def open(self, path_and_query: str, user_agent: str = CHINESE_UA, headers: dict[str, str] | None = None) -> Reply:
        reply = fetch(self.backend_url, path_and_query, headers={"User-Agent": user_agent, **(headers or {})})
        assert reply.headers.get("referrer-policy") == "no-referrer"
        assert reply.headers.get("cache-control") == "no-store"
        assert "Traceback" not in reply.body
        return reply

    def decrypt_bodies(self) -> list[dict[str, Any]]:
        """Return the JSON bodies the sandbox received on card/code/decrypt, oldest first."""
        reply = fetch(self.sandbox.base_url, "/sandbox/requests?path=card/code/decrypt")
        return [json.loads(base64.b64decode(item["body_b64"])) for item in reply.json()]

    def fault(self, path: str, **fields: Any) -> None:
        reply = post_json(self.sandbox.base_url, "/sandbox/faults", {"path": path, **fields}, key=None)
        assert reply.status == 200, reply.body


def create_card(sandbox: SandboxServer, title: str) -> str:
    body = copy.deepcopy(json.loads(EXAMPLE_CARD.read_text(encoding="utf-8")))
    base_info = body["card"]["groupon"]["base_info"]
    base_info["title"] = title
    base_info["get_limit"] = 50
    card_id = sandbox.state.create_card(DEFAULT_APPID, body)
    sandbox.state.set_card_status(card_id, "CARD_STATUS_VERIFY_OK")
    return card_id


def backend_settings(tmp_path: Path, sandbox: SandboxServer, campaigns: Path, **overrides: str) -> Settings:
    environ = {
        "WXCARD_APPID": DEFAULT_APPID,
        "WXCARD_APPSECRET": DEFAULT_SECRET,
        "WXCARD_API_BASE": sandbox.base_url,
        "WXCARD_CAMPAIGNS": str(campaigns),
        "WXCARD_STORE": f"sqlite:///{tmp_path / 'backend.sqlite3'}",
        "WXCARD_SECRET_KEY": SECRET_KEY,
        "WXCARD_MERCHANT_KEY": MERCHANT_KEY,
        "WXCARD_PUBLIC_HOSTS": "127.0.0.1",
    }
    environ.update(overrides)
    return Settings.from_env(environ)


@pytest.fixture
def flow(sandbox: SandboxServer, tmp_path: Path) -> Iterator[Flow]:
    card = create_card(sandbox, "双人火锅套餐")
    plain_card = create_card(sandbox, "单人午餐券")
    loose_card = create_card(sandbox, "饮品券")

    merchant = Merchant()
    with ThreadedServer(merchant.app(), name="merchant") as merchant_server:
        campaigns = tmp_path / "campaigns.toml"
        campaigns.write_text(
            f'[campaigns.first]\ncards = ["{card}"]\nredirect_to = "{merchant_server.base_url}/coupon?shop=12"\n\n'
            f'[campaigns.second]\ncards = ["{plain_card}", "{card}"]\nredirect_to = "{merchant_server.base_url}/other/coupon"\n\n'
            f'[campaigns.plain]\ncards = ["{plain_card}"]\n',
            encoding="utf-8",
        )
        app = create_app(backend_settings(tmp_path, sandbox, campaigns))
        with ThreadedServer(app, name="backend") as backend:
            merchant.backend["url"] = backend.base_url
            yield Flow(sandbox, backend.base_url, merchant_server.base_url, merchant, card, plain_card, loose_card)


def query_of(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


# -- encrypt_code variants -------------------------------------------------------------------


def test_case_variants_reach_decrypt_as_original(flow: Flow) -> None:
    case = cases("encrypt-code")[0]
    original = case["expect"]["posted_to_card_code_decrypt"]["encrypt_code"]
    for query_string in case["given"]["query_strings"]:
        before = len(flow.decrypt_bodies())
        reply = flow.open(f"/cards/redirect?{query_string}&card_id={flow.card}&openid={OPENID}")

        # The sandbox did not issue this encrypt_code, so it returns 40075 after receiving it.
        assert reply.status == 400, query_string
        bodies = flow.decrypt_bodies()[before:]
        assert bodies == [{"encrypt_code": original}], query_string


def test_issued_code_variants_hand_over(flow: Flow) -> None:
    issued = flow.issue()
    encrypt_code = issued["encrypt_code"]
    assert "+" in encrypt_code
    assert "/" in encrypt_code
    assert encrypt_code.endswith("=")

    once = quote(encrypt_code, safe="")
    variants = {
        "percent-encoded once": once,
        "unencoded, '+' read as space": encrypt_code,
        "percent-encoded twice": quote(once, safe=""),
        "spaces for '+'": encrypt_code.replace("+", "%20"),
    }
    for name, value in variants.items():
        before = len(flow.decrypt_bodies())
        reply = flow.open(f"/cards/redirect?encrypt_code={value}&card_id={flow.card}&openid={OPENID}")
        assert reply.status == 303, name
        assert flow.decrypt_bodies()[before:] == [{"encrypt_code": encrypt_code}], name


def test_malformed_encrypt_code_rejected(flow: Flow) -> None:
    for value in ["", "not*base64", "abc", "%25252BAAAA"]:
        reply = flow.open(f"/cards/redirect?encrypt_code={value}&card_id={flow.card}&openid={OPENID}")
        assert reply.status == 400, value
    missing = flow.open(f"/cards/redirect?card_id={flow.card}&openid={OPENID}")
    assert missing.status == 400
    assert flow.decrypt_bodies() == []


# -- hand-over ---------------------------------------------------------------------------------


def test_handover_reaches_merchant_verified(flow: Flow) -> None:
    issued = flow.issue(outer_str="poster")
    reply = flow.open(flow.weixin_url(issued["code"]))

    assert reply.status == 303
    location = reply.headers["location"]
    assert location.startswith(f"{flow.merchant_url}/coupon?")
    assert set(query_of(location)) == {"shop", "handoff"}
    assert issued["code"] not in location
    assert issued["encrypt_code"] not in location
    assert quote(issued["encrypt_code"], safe="") not in location
    assert OPENID not in location

    page = fetch(flow.merchant_url, location[len(flow.merchant_url):])
    assert page.status == 200
    received = page.json()
    assert received["status"] == 200
    assert received["handoff"]["code"] == issued["code"]
    assert received["handoff"]["card_id"] == flow.card
    assert received["handoff"]["openid"] == OPENID
    assert received["handoff"]["outer_str"] == "poster"
    assert received["handoff"]["status"] == "NORMAL"
    assert abs(received["handoff"]["issued_at"] - time.time()) < 300


def test_handoff_verify_helper_reads_token(flow: Flow) -> None:
    issued = flow.issue()
    location = flow.open(flow.weixin_url(issued["code"])).headers["location"]
    token = query_of(location)["handoff"][0]

    result = handoff.verify(token, secret_key=SECRET_KEY)
    assert result.code == issued["code"]
    assert result.card_id == flow.card
    with pytest.raises(handoff.HandoffInvalid):
        handoff.verify(token, secret_key="another-secret-key-00000000")


def test_outer_str_from_weixin_only(flow: Flow) -> None:
    issued = flow.issue()
    location = flow.open(flow.weixin_url(issued["code"]) + "&outer_str=forged").headers["location"]
    result = handoff.verify(query_of(location)["handoff"][0], secret_key=SECRET_KEY)
    assert result.outer_str == ""


def test_missing_secret_key_503(sandbox: SandboxServer, tmp_path: Path) -> None:
    card_id = create_card(sandbox, "双人火锅套餐")
    campaigns = tmp_path / "campaigns.toml"
    campaigns.write_text(f'[campaigns.first]\ncards = ["{card_id}"]\nredirect_to = "https://shop.example/coupon"\n', encoding="utf-8")
    issued = post_json(sandbox.base_url, "/sandbox/codes/issue", {"card_id": card_id, "openid": OPENID}, key=None).json()
    url = fetch(sandbox.base_url, "/sandbox/redirect-url?" + urlencode({"code": issued["code"], "url": "http://x/cards/redirect"}))
    parts = urlsplit(url.json()["url"])

    settings = backend_settings(tmp_path, sandbox, campaigns, WXCARD_SECRET_KEY="")
    with ThreadedServer(create_app(settings), name="backend") as backend:
        reply = fetch(backend.base_url, f"{parts.path}?{parts.query}")
    assert reply.status == 503
    assert reply.headers.get("retry-after", "").isdigit()
    assert "location" not in reply.headers
    assert issued["code"] not in reply.body


def test_campaign_parameter_chooses_listing_campaign(flow: Flow) -> None:
    issued = flow.issue()
    path = flow.weixin_url(issued["code"])

    second = flow.open(path + "&campaign=second")
    assert second.headers["location"].startswith(f"{flow.merchant_url}/other/coupon?")

    # "plain" does not list this card, and "nope" does not exist, so the first listing campaign wins.
    for name in ["plain", "nope"]:
        reply = flow.open(path + f"&campaign={name}")
        assert reply.headers["location"].startswith(f"{flow.merchant_url}/coupon?"), name


def test_no_open_redirect(flow: Flow) -> None:
    issued = flow.issue()
    path = flow.weixin_url(issued["code"])
    hostile_query = "&" + urlencode({
        "redirect_to": "https://evil.example/",
        "next": "https://evil.example/",
        "url": "//evil.example/",
        "handoff": "forged",
    })
    hostile_headers = {
        "Host": "evil.example",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
        "Referer": "https://evil.example/",
        "Origin": "https://evil.example",
    }
    reply = flow.open(path + hostile_query, headers=hostile_headers)

    assert reply.status == 303
    location = reply.headers["location"]
    assert location.startswith(f"{flow.merchant_url}/coupon?")
    assert "evil" not in location
    assert query_of(location)["handoff"] != ["forged"]
    assert len(query_of(location)["handoff"]) == 1


def test_coupon_page_without_redirect_to(flow: Flow) -> None:
    # The plain card's "plain" campaign has no redirect_to, and the loose card is in no campaign.
    for card_id, campaign in [(flow.plain_card, "&campaign=plain"), (flow.loose_card, "")]:
        issued = flow.issue(card_id)
        reply = flow.open(flow.weixin_url(issued["code"]) + campaign)

        assert reply.status == 200, card_id
        assert "location" not in reply.headers
        assert issued["code"] in reply.body
        assert reply.body.count("<svg") == 2
        assert 'class="segno"' in reply.body
        assert "barcode_group" in reply.body
        assert "请向收银员出示此码" in reply.body

    english = flow.open(flow.weixin_url(flow.issue(flow.loose_card)["code"]), user_agent=ENGLISH_UA)
    assert "Show this code to the cashier" in english.body


# -- ownership and status ----------------------------------------------------------------------


def test_mismatched_openid_forbidden(flow: Flow) -> None:
    issued = flow.issue()
    path = flow.weixin_url(issued["code"]).replace(f"openid={OPENID}", f"openid={OTHER_OPENID}")
    reply = flow.open(path)

    assert reply.status == 403
    assert "location" not in reply.headers
    assert issued["code"] not in reply.body
    assert "这张券不属于当前微信用户" in reply.body


def test_mismatched_card_id_forbidden(flow: Flow) -> None:
    issued = flow.issue()
    path = flow.weixin_url(issued["code"])
    for other in [flow.plain_card, "pUNKNOWN_card_000000000000000"]:
        reply = flow.open(path.replace(f"card_id={flow.card}", f"card_id={other}"))
        assert reply.status == 403, other
        assert "location" not in reply.headers
        assert "这张券不属于链接中的卡券" in reply.body

    malformed = flow.open(path.replace(f"card_id={flow.card}", "card_id=%3Cscript%3E"))
    assert malformed.status == 400


@pytest.mark.parametrize("status", UNUSABLE_STATUSES)
def test_unusable_status_page(flow: Flow, status: str) -> None:
    issued = flow.issue()
    flow.set_status(issued["code"], status)
    path = flow.weixin_url(issued["code"])

    chinese = flow.open(path)
    assert chinese.status == 200
    assert "location" not in chinese.headers
    assert f'data-status="{status}"' in chinese.body
    assert issued["code"] not in chinese.body
    assert 'lang="zh-CN"' in chinese.body
    assert "这张券" in chinese.body

    english = flow.open(path, user_agent=ENGLISH_UA)
    assert english.status == 200
    assert 'lang="en"' in english.body
    assert "this coupon" in english.body.lower()
    assert flow.merchant.received == []


def test_status_texts_per_language(flow: Flow) -> None:
    expected = {"CONSUMED": ("已经使用过", "already been used"), "EXPIRE": ("已过期", "has expired")}
    for status, (chinese_text, english_text) in expected.items():
        issued = flow.issue()
        flow.set_status(issued["code"], status)
        path = flow.weixin_url(issued["code"])
        assert chinese_text in flow.open(path).body, status
        assert english_text in flow.open(path, user_agent=ENGLISH_UA).body, status


# -- Weixin errors -------------------------------------------------------------------------------


def test_invalid_encrypt_code_400(flow: Flow) -> None:
    issued = flow.issue()
    other = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo+Lz0xMjM0NTY3ODkw"
    reply = flow.open(f"/cards/redirect?encrypt_code={quote(other, safe='')}&card_id={flow.card}&openid={OPENID}")
    assert reply.status == 400
    assert "无法识别这张券" in reply.body
    assert issued["code"] not in reply.body


def test_unknown_code_404(flow: Flow) -> None:
    issued = flow.issue()
    flow.fault("card/code/get", errcode=40056, errmsg="invalid serial code")
    reply = flow.open(flow.weixin_url(issued["code"]))
    assert reply.status == 404
    assert "找不到这张券" in reply.body


def test_weixin_busy_503(flow: Flow) -> None:
    issued = flow.issue()
    path = flow.weixin_url(issued["code"])
    for fault in [{"errcode": -1}, {"http_status": 502}]:
        flow.fault("card/code/decrypt", **fault)
        reply = flow.open(path)
        assert reply.status == 503, fault
        assert reply.headers.get("retry-after", "").isdigit(), fault
        assert "微信服务繁忙" in reply.body

    # The fault is used up, so the same link works again.
    assert flow.open(path).status == 303


def test_weixin_unreachable_503(sandbox: SandboxServer, tmp_path: Path) -> None:
    campaigns = tmp_path / "campaigns.toml"
    campaigns.write_text('[campaigns.first]\ncards = ["pCARD"]\n', encoding="utf-8")
    dead_base = f"http://127.0.0.1:{closed_port()}"
    settings = backend_settings(tmp_path, sandbox, campaigns, WXCARD_API_BASE=dead_base, WXCARD_HTTP_TIMEOUT="2")
    with ThreadedServer(create_app(settings), name="backend") as backend:
        encrypt_code = quote("QUJDREVGR0hJSktMTU5PUA==", safe="")
        reply = fetch(backend.base_url, f"/cards/redirect?encrypt_code={encrypt_code}&card_id=pCARD&openid={OPENID}")
    assert reply.status == 503
    assert reply.headers.get("retry-after", "").isdigit()
    assert reply.headers.get("referrer-policy") == "no-referrer"


def test_trailing_slash_not_redirected(flow: Flow) -> None:
    issued = flow.issue()
    path = flow.weixin_url(issued["code"]).replace("/cards/redirect?", "/cards/redirect/?")

    # Starlette's slash redirect would build its Location from this Host header.
    reply = flow.open(path, headers={"Host": "evil.example"})
    assert reply.status == 303
    assert reply.headers["location"].startswith(f"{flow.merchant_url}/coupon?")
    assert "evil" not in reply.headers["location"]


def test_other_methods_get_405_page(flow: Flow) -> None:
    issued = flow.issue()
    path = flow.weixin_url(issued["code"])
    for method in ["POST", "PUT", "DELETE", "OPTIONS"]:
        reply = fetch(flow.backend_url, path, method=method, headers={"User-Agent": CHINESE_UA})
        assert reply.status == 405, method
        assert reply.headers.get("allow") == "GET, HEAD", method
        assert reply.headers.get("referrer-policy") == "no-referrer", method
        assert 'data-error="method_not_allowed"' in reply.body, method
    assert flow.decrypt_bodies() == []


def test_malformed_weixin_response_handled(sandbox: SandboxServer, tmp_path: Path) -> None:
    # A Weixin double that returns errcode 0 with "card" as a string instead of an object.
    async def token(request: Request) -> JSONResponse:
        return JSONResponse({"access_token": "FAKE_ACCESS_TOKEN", "expires_in": 7200})

    async def malformed(request: Request) -> JSONResponse:
        return JSONResponse({"errcode": 0, "errmsg": "ok", "code": "123456789012", "card": "broken", "openid": OPENID})

    weixin = Starlette(routes=[
        Route("/cgi-bin/token", token),
        *[Route(f"/card/code/{name}", malformed, methods=["POST"]) for name in ["decrypt", "get", "consume"]],
    ])
    campaigns = tmp_path / "campaigns.toml"
    campaigns.write_text('[campaigns.first]\ncards = ["pCARD"]\n', encoding="utf-8")

    with ThreadedServer(weixin, name="weixin") as weixin_server:
        settings = backend_settings(tmp_path, sandbox, campaigns, WXCARD_API_BASE=weixin_server.base_url)
        with ThreadedServer(create_app(settings), name="backend") as backend:
            encrypt_code = quote("QUJDREVGR0hJSktMTU5PUA==", safe="")
            page = fetch(backend.base_url, f"/cards/redirect?encrypt_code={encrypt_code}&card_id=pCARD&openid={OPENID}")
            consumed = post_json(backend.base_url, "/cards/consume", {"code": "123456789012", "card_id": "pCARD"})

    # The client reports a malformed response as a transport failure, so both ask the caller to retry later.
    assert page.status == 503
    assert page.headers.get("retry-after")
    assert page.headers.get("referrer-policy") == "no-referrer"
    assert 'data-error="busy"' in page.body
    assert "Traceback" not in page.body

    assert consumed.status == 503
    assert consumed.headers.get("content-type") == "application/json"
    assert consumed.json()["error"] == "weixin_unavailable"


def closed_port() -> int:
    """Return a loopback port that nothing listens on, as an unreachable Weixin."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- merchant API ----------------------------------------------------------------------------------


def test_consume_once_then_already_consumed(flow: Flow) -> None:
    issued = flow.issue()
    token = query_of(flow.open(flow.weixin_url(issued["code"])).headers["location"])["handoff"][0]

    first = post_json(flow.backend_url, "/cards/consume", {"token": token})
    assert first.status == 200
    assert first.json()["result"] == "consumed"
    assert first.json()["card_id"] == flow.card

    again = post_json(flow.backend_url, "/cards/consume", {"token": token})
    assert again.status == 200
    assert again.json()["result"] == "already_consumed"

    by_code = post_json(flow.backend_url, "/cards/consume", {"code": issued["code"], "card_id": flow.card})
    assert by_code.json()["result"] == "already_consumed"

    # The coupon now shows as used instead of being handed over again.
    reopened = flow.open(flow.weixin_url(issued["code"]))
    assert reopened.status == 200
    assert 'data-status="CONSUMED"' in reopened.body


def test_consume_by_code_and_errors(flow: Flow) -> None:
    issued = flow.issue()
    consumed = post_json(flow.backend_url, "/cards/consume", {"code": issued["code"], "card_id": flow.card})
    assert consumed.json() == {"result": "consumed", "card_id": flow.card, "openid": OPENID}

    unknown = post_json(flow.backend_url, "/cards/consume", {"code": "000000000001", "card_id": flow.card})
    assert unknown.status == 404
    assert post_json(flow.backend_url, "/cards/consume", {"code": issued["code"]}).status == 400
    assert post_json(flow.backend_url, "/cards/consume", {"code": "x" * 21, "card_id": flow.card}).status == 400

    deleted = flow.issue()
    flow.set_status(deleted["code"], "DELETE")
    assert post_json(flow.backend_url, "/cards/consume", {"code": deleted["code"], "card_id": flow.card}).status == 409

    busy = flow.issue()
    flow.fault("card/code/consume", errcode=-1)
    reply = post_json(flow.backend_url, "/cards/consume", {"code": busy["code"], "card_id": flow.card})
    assert reply.status == 503
    assert reply.headers.get("retry-after", "").isdigit()


def test_expired_and_tampered_tokens_rejected(flow: Flow) -> None:
    issued = flow.issue()
    token = query_of(flow.open(flow.weixin_url(issued["code"])).headers["location"])["handoff"][0]
    expired = handoff.issue(flow.card, issued["code"], OPENID, secret_key=SECRET_KEY, issued_at=int(time.time()) - 601)
    payload, timestamp, signature = token.rsplit(".", 2)
    tampered = f"{payload}.{timestamp}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"

    for path in ["/cards/handoff/verify", "/cards/consume"]:
        old = post_json(flow.backend_url, path, {"token": expired})
        assert old.status == 410, path
        assert old.json()["error"] == "expired_token"

        altered = post_json(flow.backend_url, path, {"token": tampered})
        assert altered.status == 400, path
        assert altered.json()["error"] == "invalid_token"

        foreign = handoff.issue(flow.card, issued["code"], OPENID, secret_key="another-secret-key-00000000")
        assert post_json(flow.backend_url, path, {"token": foreign}).status == 400, path

    assert post_json(flow.backend_url, "/cards/handoff/verify", {"token": token}).status == 200
    assert post_json(flow.backend_url, "/cards/handoff/verify", {}).status == 400
    assert post_json(flow.backend_url, "/cards/handoff/verify", [token]).status == 400


def test_merchant_endpoints_require_bearer_key(flow: Flow) -> None:
    issued = flow.issue()
    token = query_of(flow.open(flow.weixin_url(issued["code"])).headers["location"])["handoff"][0]

    for path in ["/cards/handoff/verify", "/cards/consume"]:
        assert post_json(flow.backend_url, path, {"token": token}, key=None).status == 401, path
        assert post_json(flow.backend_url, path, {"token": token}, key=MERCHANT_KEY + "x").status == 401, path
        assert post_json(flow.backend_url, path, {"token": token}, key="").status == 401, path
        basic = post_json(flow.backend_url, path, {"token": token}, key=None, headers={"Authorization": f"Basic {MERCHANT_KEY}"})
        assert basic.status == 401, path
        assert basic.headers.get("www-authenticate") == "Bearer"

    # None of the rejected calls consumed the code.
    assert post_json(flow.backend_url, "/cards/consume", {"token": token}).json()["result"] == "consumed"


def test_merchant_key_unset_503(sandbox: SandboxServer, tmp_path: Path) -> None:
    campaigns = tmp_path / "campaigns.toml"
    campaigns.write_text('[campaigns.first]\ncards = ["pCARD"]\n', encoding="utf-8")
    settings = backend_settings(tmp_path, sandbox, campaigns, WXCARD_MERCHANT_KEY="")
    with ThreadedServer(create_app(settings), name="backend") as backend:
        reply = post_json(backend.base_url, "/cards/handoff/verify", {"token": "x"})
    assert reply.status == 503
    assert "WXCARD_MERCHANT_KEY" in reply.json()["message"]


def test_merchant_demo_page_no_referrer(flow: Flow) -> None:
    issued = flow.issue()
    token = query_of(flow.open(flow.weixin_url(issued["code"])).headers["location"])["handoff"][0]
    merchant = MerchantPage(backend_base=flow.backend_url, merchant_key=MERCHANT_KEY)
    down = MerchantPage(backend_base=f"http://127.0.0.1:{closed_port()}", merchant_key=MERCHANT_KEY)

    with ThreadedServer(merchant.app(), name="merchant-demo") as shop, ThreadedServer(down.app(), name="merchant-down") as shop_down:
        verified = fetch(shop.base_url, "/shop?" + urlencode({"handoff": token}))
        invalid = fetch(shop.base_url, "/shop?handoff=forged")
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        consumed = fetch(shop.base_url, "/shop/consume", "POST", form, urlencode({"handoff": token}).encode("ascii"))
        unreachable = fetch(shop_down.base_url, "/shop?" + urlencode({"handoff": token}))

    assert verified.status == 200
    assert 'data-state="handoff-verified"' in verified.body
    assert invalid.status == 400
    assert 'data-state="consumed"' in consumed.body
    assert unreachable.status == 502
    assert 'data-state="backend-failed"' in unreachable.body
    for name, reply in [("verified", verified), ("invalid", invalid), ("consumed", consumed), ("unreachable", unreachable)]:
        assert reply.headers.get("referrer-policy") == "no-referrer", name
        assert reply.headers.get("cache-control") == "no-store", name
        assert issued["code"] not in reply.body, name


# -- logging --------------------------------------------------------------------------------------


def test_logs_contain_no_secrets(flow: Flow, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    issued = flow.issue(outer_str="poster")
    other = flow.issue()
    path = flow.weixin_url(issued["code"])

    location = flow.open(path).headers["location"]
    token = query_of(location)["handoff"][0]
    assert fetch(flow.merchant_url, location[len(flow.merchant_url):]).status == 200
    assert post_json(flow.backend_url, "/cards/consume", {"token": token}).json()["result"] == "consumed"
    assert post_json(flow.backend_url, "/cards/consume", {"token": token}).json()["result"] == "already_consumed"
    assert flow.open(path).status == 200
    assert flow.open(path.replace(f"openid={OPENID}", f"openid={OTHER_OPENID}")).status == 403
    assert post_json(flow.backend_url, "/cards/consume", {"token": token}, key="wrong-key").status == 401
    flow.fault("card/code/decrypt", errcode=-1)
    assert flow.open(flow.weixin_url(other["code"])).status == 503
    assert flow.open(flow.weixin_url(other["code"]), user_agent=ENGLISH_UA).status == 303

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "redirect handed over" in text
    secrets = {
        "code": issued["code"],
        "other code": other["code"],
        "encrypt_code": issued["encrypt_code"],
        "encoded encrypt_code": quote(issued["encrypt_code"], safe=""),
        "hand-over token": token,
        "secret key": SECRET_KEY,
        "merchant key": MERCHANT_KEY,
        "appsecret": DEFAULT_SECRET,
        "full openid": OPENID,
    }
    for name, value in secrets.items():
        assert value not in text, name
