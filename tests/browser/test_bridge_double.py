"""The browser harness itself: the official JS-SDK against the WeixinJSBridge double and the sandbox.

A small page on loopback calls ``wx.config`` with a signature that the test computes with
``hashlib`` from the sandbox's jsapi ticket. These tests show that the double checks the
URL the real client checks, and that the JS-SDK reports the outcome as it does in Weixin.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from h5.config import DEFAULT_JSSDK_URL
from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.sandbox.server import SandboxServer
from h5.serving import ThreadedServer
from tests.browser.conftest import PhoneSession
from tests.browser.user_agents import WEIXIN_ANDROID, WEIXIN_IOS

pytestmark = pytest.mark.browser

NONCE = "Wm3WZYTPz0wzccnW"
TIMESTAMP = "1414587457"

# weixin-js-sdk is a CommonJS module, so the page gives it a module object and publishes
# the result as window.wx. The page records what the JS-SDK reports in window.sdkEvents. With ?push=1 it first moves
# to /page/next with history.pushState, as a single-page app does, then signs either the
# URL it was opened with (?sign=entry) or the URL it shows now (?sign=current).
PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>bridge</title>
<script>window.module = {{ exports: {{}} }};</script>
<script src="{jssdk_url}"></script>
<script>window.wx = module.exports;</script></head><body>
<script>
window.sdkEvents = [];
const entryUrl = location.href.split("#")[0];
const query = new URLSearchParams(location.search);
if (query.get("push") === "1") {{ history.pushState(null, "", "/page/next?step=2"); }}
const signedUrl = query.get("sign") === "current" ? location.href.split("#")[0] : entryUrl;
const forged = query.get("forge") === "1";
fetch("/sign?url=" + encodeURIComponent(signedUrl)).then((r) => r.json()).then((config) => {{
  wx.config({{ appId: "{appid}", timestamp: {timestamp}, nonceStr: "{nonce}",
               signature: forged ? config.signature.replace(/^./, (c) => c === "0" ? "1" : "0") : config.signature,
               jsApiList: ["addCard"] }});
  wx.error((res) => sdkEvents.push("error " + res.errMsg));
  wx.ready(() => sdkEvents.push("ready"));
  if (query.get("early") === "1") {{
    wx.addCard({{ cardList: [{{ cardId: "pEarly", cardExt: "{{}}" }}],
                 success: () => sdkEvents.push("add ok"), fail: (res) => sdkEvents.push("add " + res.errMsg),
                 cancel: () => sdkEvents.push("add cancel") }});
  }}
}});
</script></body></html>"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="module")
def jsapi_ticket(sandbox: SandboxServer) -> str:
    base = sandbox.base_url
    token = httpx.get(
        f"{base}/cgi-bin/token", params={"grant_type": "client_credential", "appid": DEFAULT_APPID, "secret": DEFAULT_SECRET}
    ).json()["access_token"]
    return httpx.get(f"{base}/cgi-bin/ticket/getticket", params={"access_token": token, "type": "jsapi"}).json()["ticket"]


@pytest.fixture(scope="module")
def page_server(jsapi_ticket: str) -> Iterator[ThreadedServer]:
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE.format(jssdk_url=DEFAULT_JSSDK_URL, appid=DEFAULT_APPID, timestamp=TIMESTAMP, nonce=NONCE))

    async def sign(request: Request) -> HTMLResponse:
        url = request.query_params["url"]
        text = f"jsapi_ticket={jsapi_ticket}&noncestr={NONCE}&timestamp={TIMESTAMP}&url={url}"
        return HTMLResponse(json.dumps({"signature": hashlib.sha1(text.encode()).hexdigest()}), media_type="application/json")

    app = Starlette(routes=[Route("/page", page), Route("/page/next", page), Route("/sign", sign)])
    with ThreadedServer(app, name="bridge-page") as server:
        yield server


def run_page(open_phone: Callable[..., PhoneSession], sandbox: SandboxServer, url: str, user_agent: str = WEIXIN_IOS) -> PhoneSession:
    session = open_phone(user_agent, DEFAULT_JSSDK_URL, sandbox_base=sandbox.base_url)
    session.page.goto(url)
    session.page.wait_for_function("window.sdkEvents && window.sdkEvents.includes('ready')")
    return session


def test_config_passes_with_valid_signature(open_phone, sandbox, page_server) -> None:
    session = run_page(open_phone, sandbox, f"{page_server.base_url}/page?sign=entry")
    assert session.page.evaluate("window.sdkEvents") == ["ready"]

    (call,) = session.simulator.calls_named("preVerifyJSAPI")
    assert call.url == f"{page_server.base_url}/page?sign=entry"
    assert call.params["verifyJsApiList"] == ["batchAddCard"]
    assert call.reply == {"err_msg": "pre_verify_jsapi:ok"}


def test_forged_signature_reports_error(open_phone, sandbox, page_server) -> None:
    session = run_page(open_phone, sandbox, f"{page_server.base_url}/page?forge=1")
    # The JS-SDK calls wx.error and then wx.ready anyway, as in Weixin.
    assert session.page.evaluate("window.sdkEvents") == ["error config:invalid signature", "ready"]


def test_sdk_served_and_other_hosts_blocked(open_phone, sandbox, page_server) -> None:
    session = run_page(open_phone, sandbox, f"{page_server.base_url}/page")
    assert session.guard.jssdk_served == 1
    assert session.guard.blocked == []
    assert session.console_errors == []


@pytest.mark.parametrize(
    ("user_agent", "sign", "outcome"),
    [
        (WEIXIN_IOS, "entry", ["ready"]),
        (WEIXIN_IOS, "current", ["error config:invalid signature", "ready"]),
        (WEIXIN_ANDROID, "current", ["ready"]),
        (WEIXIN_ANDROID, "entry", ["error config:invalid signature", "ready"]),
    ],
    ids=["ios-entry", "ios-current", "android-current", "android-entry"],
)
def test_push_state_url_checked_per_platform(open_phone, sandbox, page_server, user_agent, sign, outcome) -> None:
    session = run_page(open_phone, sandbox, f"{page_server.base_url}/page?push=1&sign={sign}", user_agent)
    assert session.page.evaluate("window.sdkEvents") == outcome
    assert session.page.evaluate("location.pathname") == "/page/next"


def test_add_card_before_config_rejected(open_phone, sandbox, page_server) -> None:
    session = run_page(open_phone, sandbox, f"{page_server.base_url}/page?early=1")
    session.page.wait_for_function("window.sdkEvents.some((event) => event.startsWith('add '))")
    events = session.page.evaluate("window.sdkEvents")
    assert "add addCard:the permission value is offline verifying" in events
    assert session.simulator.calls_named("batchAddCard")[0].reply["err_msg"].startswith("batch_add_card:fail_")
