"""The landing page, card-ext and jssdk config over HTTP, against the sandbox as a real server.

Signatures are recomputed here with ``hashlib`` from the tickets the sandbox reports, not
with the ``signer`` package.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from h5.app import create_app
from h5.client import WeixinClient
from h5.config import Settings
from h5.context import ROOT
from h5.i18n import EN, ZH
from h5.landing import page_url_problem
from h5.landing_texts import PAGE, SCRIPT
from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.sandbox.server import SandboxServer
from h5.serving import ThreadedServer
from h5.store import open_store
from tests.shared_material import cases

EXAMPLE_CARD = ROOT / "examples" / "hotpot-groupon.json"
PUBLIC_HOSTS = "127.0.0.1,h5.example.com"

WEIXIN_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN"
)
WEIXIN_IOS_EN = WEIXIN_IOS.replace("Language/zh_CN", "Language/en")
WEIXIN_OUTDATED = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 7_1 like Mac OS X) AppleWebKit/537.51.2 (KHTML, like Gecko) "
    "Mobile/11D167 MicroMessenger/6.0.1 NetType/WIFI"
)
WEIXIN_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
    "Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090c37) XWEB/14315 Flue"
)
WECOM = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)  "
    "Mobile/15E148 wxwork/4.1.30 MicroMessenger/7.0.1 Language/zh ColorScheme/Light wwmver/3.26.13.714"
)
MINI_PROGRAM = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.49(0x18003131) NetType/4G Language/zh_CN miniProgram/wx624dc2cce62f7008"
)
DESKTOP_BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
PHONE_BROWSER = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


# -- helpers --------------------------------------------------------------------------------


class PageParser(HTMLParser):
    """Collects the attributes of <html>, <body> and of every element with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.html: dict[str, str] = {}
        self.body: dict[str, str] = {}
        self.ids: dict[str, dict[str, str]] = {}
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags.append(tag)
        if tag == "html":
            self.html = values
        elif tag == "body":
            self.body = values
        if "id" in values:
            self.ids[values["id"]] = values


def parse_page(text: str) -> PageParser:
    parser = PageParser()
    parser.feed(text)
    return parser


def create_cards(sandbox: SandboxServer, store_path: Path, titles: list[str]) -> list[str]:
    """Create GROUPON cards with the given titles through the real client and return their card_ids."""
    card = json.loads(EXAMPLE_CARD.read_text(encoding="utf-8"))["card"]

    async def run() -> list[str]:
        store = open_store(f"sqlite:///{store_path}")
        client = WeixinClient(DEFAULT_APPID, DEFAULT_SECRET, store, sandbox.base_url)
        try:
            card_ids = []
            for title in titles:
                card["groupon"]["base_info"]["title"] = title
                card_ids.append(await client.create_card(card))
            return card_ids
        finally:
            await client.aclose()
            await store.close()

    return asyncio.run(run())


def set_card_status(sandbox: SandboxServer, card_id: str, status: str) -> None:
    response = httpx.post(f"{sandbox.base_url}/sandbox/cards/{card_id}/status", json={"status": status})
    assert response.status_code == 200, response.text


def sandbox_tickets(sandbox: SandboxServer) -> dict[str, str]:
    return httpx.get(f"{sandbox.base_url}/sandbox/tickets", params={"appid": DEFAULT_APPID}).json()


def sandbox_stats(sandbox: SandboxServer) -> dict:
    return httpx.get(f"{sandbox.base_url}/sandbox/stats").json()


def settings_for(tmp_path: Path, api_base: str, campaigns: dict[str, list[str]], public_hosts: str = PUBLIC_HOSTS) -> Settings:
    campaign_file = tmp_path / "campaigns.toml"
    lines = []
    for name, cards in campaigns.items():
        lines.append(f"[campaigns.{name}]")
        lines.append("cards = [" + ", ".join(json.dumps(card) for card in cards) + "]")
        lines.append('redirect_to = "https://shop.example.com/after"')
    campaign_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Settings.from_env(
        {
            "WXCARD_APPID": DEFAULT_APPID,
            "WXCARD_APPSECRET": DEFAULT_SECRET,
            "WXCARD_API_BASE": api_base,
            "WXCARD_CAMPAIGNS": str(campaign_file),
            "WXCARD_STORE": f"sqlite:///{tmp_path / 'backend.sqlite3'}",
            "WXCARD_SECRET_KEY": "test-secret-key-0123456789",
            "WXCARD_PUBLIC_HOSTS": public_hosts,
            "WXCARD_HTTP_TIMEOUT": "2",
        }
    )


@dataclass
class Backend:
    server: ThreadedServer
    card_ids: list[str]

    @property
    def url(self) -> str:
        return self.server.base_url


@contextlib.contextmanager
def start_backend(tmp_path: Path, api_base: str, campaigns: dict[str, list[str]]) -> Iterator[ThreadedServer]:
    """Run the backend for ``campaigns`` on a free loopback port until the block ends."""
    server = ThreadedServer(create_app(settings_for(tmp_path, api_base, campaigns)), name="backend").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def backend(sandbox: SandboxServer, tmp_path: Path):
    """The backend on the sandbox with campaign ``hotpot`` (two approved cards) and ``review`` (one card in review)."""
    card_ids = create_cards(sandbox, tmp_path / "setup.sqlite3", ["132元双人火锅套餐", "68元单人火锅套餐", "审核中的券"])
    for card_id in card_ids[:2]:
        set_card_status(sandbox, card_id, "CARD_STATUS_VERIFY_OK")
    with start_backend(tmp_path, sandbox.base_url, {"hotpot": card_ids[:2], "review": card_ids[2:]}) as server:
        yield Backend(server, card_ids)


def card_ext_signature(api_ticket: str, card_id: str, fields: dict[str, str]) -> str:
    values = [api_ticket, fields["timestamp"], card_id, fields.get("code", ""), fields.get("openid", ""), fields["nonce_str"]]
    return hashlib.sha1("".join(sorted(values)).encode("utf-8")).hexdigest()


def config_signature(jsapi_ticket: str, nonce: str, timestamp: str, url: str) -> str:
    string1 = f"jsapi_ticket={jsapi_ticket}&noncestr={nonce}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(string1.encode("utf-8")).hexdigest()


def encode_uri_component(value: str) -> str:
    """Encode as the browser's encodeURIComponent does."""
    return quote(value, safe="-_.!~*'()")


# -- card-ext -------------------------------------------------------------------------------


def test_card_ext_signs_each_card(backend: Backend, sandbox: SandboxServer) -> None:
    response = httpx.get(f"{backend.url}/cards/hotpot/card-ext", params={"outer_str": "ch_moments.v2-a"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert list(body) == ["cardList"]
    assert [entry["cardId"] for entry in body["cardList"]] == backend.card_ids[:2]

    wx_card_ticket = sandbox_tickets(sandbox)["wx_card"]
    assert wx_card_ticket
    for entry in body["cardList"]:
        assert set(entry) == {"cardId", "cardExt"}
        assert isinstance(entry["cardExt"], str)
        fields = json.loads(entry["cardExt"])
        assert set(fields) == {"timestamp", "nonce_str", "outer_str", "signature"}
        assert fields["outer_str"] == "ch_moments.v2-a"
        assert fields["timestamp"].isdigit()
        assert len(fields["timestamp"]) == 10
        assert abs(int(fields["timestamp"]) - time.time()) < 300
        assert 1 <= len(fields["nonce_str"]) <= 32
        assert fields["signature"] == card_ext_signature(wx_card_ticket, entry["cardId"], fields)


def test_card_ext_without_outer_str(backend: Backend) -> None:
    for query in ("", "?outer_str="):
        response = httpx.get(f"{backend.url}/cards/hotpot/card-ext{query}")
        assert response.status_code == 200
        for entry in response.json()["cardList"]:
            assert "outer_str" not in json.loads(entry["cardExt"])


def test_card_ext_fresh_nonce_per_request(backend: Backend) -> None:
    nonces = []
    for _ in range(3):
        for entry in httpx.get(f"{backend.url}/cards/hotpot/card-ext").json()["cardList"]:
            nonces.append(json.loads(entry["cardExt"])["nonce_str"])
    assert len(nonces) == 6
    assert len(set(nonces)) == 6


@pytest.mark.parametrize(
    "outer_str",
    ["a" * 129, "has space", "中文", "a/b", "a&b", "a%b", "<script>"],
    ids=["too-long", "space", "chinese", "slash", "ampersand", "percent", "markup"],
)
def test_outer_str_rejected(backend: Backend, outer_str: str) -> None:
    card_ext = httpx.get(f"{backend.url}/cards/hotpot/card-ext", params={"outer_str": outer_str})
    assert card_ext.status_code == 400
    assert card_ext.json()["error"] == "invalid_outer_str"

    page = httpx.get(f"{backend.url}/cards/hotpot", params={"outer_str": outer_str}, headers={"User-Agent": WEIXIN_IOS})
    assert page.status_code == 400
    parsed = parse_page(page.text)
    assert parsed.body["data-error"] == "invalid-outer-str"
    assert "outer_str" in page.text
    assert "<script>" not in page.text


def test_outer_str_longest_accepted(backend: Backend) -> None:
    outer_str = "A" * 128
    response = httpx.get(f"{backend.url}/cards/hotpot/card-ext", params={"outer_str": outer_str})
    assert response.status_code == 200
    assert json.loads(response.json()["cardList"][0]["cardExt"])["outer_str"] == outer_str


def test_outer_str_given_twice_rejected(backend: Backend) -> None:
    response = httpx.get(f"{backend.url}/cards/hotpot/card-ext?outer_str=a&outer_str=b")
    assert response.status_code == 400


def test_card_ext_unknown_campaign(backend: Backend) -> None:
    response = httpx.get(f"{backend.url}/cards/nosuch/card-ext")
    assert response.status_code == 404
    assert response.json()["error"] == "campaign_not_found"


# -- jssdk config ---------------------------------------------------------------------------


def _expected_signed_url(case: dict) -> str:
    given, expect = case["given"], case["expect"]
    if "signed_url" in expect:
        return expect["signed_url"]
    return given.get("browser_url") or given["page_url"]


def _sent_url(case: dict) -> str:
    return case["given"].get("page_url") or case["given"]["browser_url"]


def test_jssdk_config_shared_url_cases(backend: Backend, sandbox: SandboxServer) -> None:
    shared = cases("jssdk-url")
    assert len(shared) >= 4
    for case in shared:
        response = httpx.get(f"{backend.url}/jssdk/config?url={encode_uri_component(_sent_url(case))}")
        assert response.status_code == 200, (case["id"], response.text)
        body = response.json()
        assert set(body) == {"appId", "timestamp", "nonceStr", "signature", "jsApiList"}
        assert body["appId"] == DEFAULT_APPID
        assert body["jsApiList"] == ["addCard"]

        ticket = sandbox_tickets(sandbox)["jsapi"]
        timestamp = str(body["timestamp"])
        expected = config_signature(ticket, body["nonceStr"], timestamp, _expected_signed_url(case))
        assert body["signature"] == expected, case["id"]


def test_jssdk_config_wrong_variants_differ(backend: Backend, sandbox: SandboxServer) -> None:
    by_id = {case["id"]: case for case in cases("jssdk-url")}
    wrong_urls = {
        "C01": by_id["C01"]["given"]["page_url"],
        "C02": by_id["C02"]["given"]["browser_url"].replace("https://", "http://", 1),
        "C03": by_id["C03"]["given"]["page_url"].replace("&", "&amp;"),
        "C04": "https://h5.example.com/c?title=满100减20&ch=朋友圈",
    }
    for case_id, wrong_url in wrong_urls.items():
        case = by_id[case_id]
        body = httpx.get(f"{backend.url}/jssdk/config?url={encode_uri_component(_sent_url(case))}").json()
        ticket = sandbox_tickets(sandbox)["jsapi"]
        assert body["signature"] != config_signature(ticket, body["nonceStr"], str(body["timestamp"]), wrong_url), case_id


def test_jssdk_config_keeps_percent_escapes(backend: Backend, sandbox: SandboxServer) -> None:
    page_url = "https://h5.example.com/c?title=%E6%BB%A1100%E5%87%8F20"
    body = httpx.get(f"{backend.url}/jssdk/config?url={encode_uri_component(page_url)}").json()
    ticket = sandbox_tickets(sandbox)["jsapi"]
    assert body["signature"] == config_signature(ticket, body["nonceStr"], str(body["timestamp"]), page_url)


def test_jssdk_config_fresh_nonce(backend: Backend) -> None:
    url = encode_uri_component("https://h5.example.com/cards/hotpot")
    nonces = {httpx.get(f"{backend.url}/jssdk/config?url={url}").json()["nonceStr"] for _ in range(3)}
    assert len(nonces) == 3


@pytest.mark.parametrize(
    "page_url",
    [
        "https://evil.example.com/cards/hotpot",
        "https://h5.example.com.evil.example.com/cards/hotpot",
        "https://evil.example.com/?h5.example.com",
        "javascript:alert(1)",
        "/cards/hotpot",
        "https://h5.example.com:99999/cards/hotpot",
    ],
    ids=["other-host", "suffix-host", "host-in-query", "javascript", "relative", "bad-port"],
)
def test_jssdk_config_rejects_url(backend: Backend, page_url: str) -> None:
    response = httpx.get(f"{backend.url}/jssdk/config?url={encode_uri_component(page_url)}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_url"
    assert response.json()["message"]


def test_jssdk_config_missing_url(backend: Backend) -> None:
    assert httpx.get(f"{backend.url}/jssdk/config").status_code == 400
    assert httpx.get(f"{backend.url}/jssdk/config?url=").status_code == 400


def test_jssdk_config_public_host_any_port(backend: Backend) -> None:
    url = encode_uri_component("https://h5.example.com:8443/cards/hotpot?x=1")
    assert httpx.get(f"{backend.url}/jssdk/config?url={url}").status_code == 200


def test_page_url_host_rules() -> None:
    assert page_url_problem("https://h5.example.com/a", ("h5.example.com",)) is None
    assert page_url_problem("https://H5.Example.com/a", ("h5.example.com",)) is None
    assert page_url_problem("http://h5.example.com:8080/a", ("h5.example.com",)) is None
    assert page_url_problem("https://h5.example.com/a", ("h5.example.com:443",)) is None
    assert page_url_problem("http://h5.example.com/a", ("h5.example.com:80",)) is None
    assert page_url_problem("https://h5.example.com:8443/a", ("h5.example.com:443",)) is not None
    assert page_url_problem("https://user@evil.example.com/a", ("h5.example.com",)) is not None
    assert page_url_problem("ftp://h5.example.com/a", ("h5.example.com",)) is not None
    assert page_url_problem("https://h5.example.com/" + "a" * 3000, ("h5.example.com",)) is not None


# -- the page -------------------------------------------------------------------------------


def get_page(backend: Backend, user_agent: str, campaign: str = "hotpot", query: str = "") -> tuple[httpx.Response, PageParser]:
    response = httpx.get(f"{backend.url}/cards/{campaign}{query}", headers={"User-Agent": user_agent})
    return response, parse_page(response.text)


def test_page_weixin_shows_cards_and_button(backend: Backend) -> None:
    response, page = get_page(backend, WEIXIN_IOS, query="?outer_str=ch_moments")
    assert response.status_code == 200
    assert page.html["lang"] == "zh-CN"
    assert page.body["data-client"] == "weixin"
    assert page.body["data-state"] == "loading"
    assert page.body["data-card-state"] == "approved"
    assert page.body["data-campaign"] == "hotpot"
    assert page.body["data-outer-str"] == "ch_moments"
    assert page.body["data-config-url"] == "/jssdk/config"
    assert page.body["data-card-ext-url"] == "/cards/hotpot/card-ext"
    assert page.body["data-jssdk-url"] == "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"
    assert "add-card" in page.ids
    assert "disabled" in page.ids["add-card"]
    assert "添加到卡包" in response.text
    assert "132元双人火锅套餐" in response.text
    assert "68元单人火锅套餐" in response.text
    assert "微信餐厅" in response.text
    assert "--card-color: #63b359" in response.text
    assert 'class="logo" src="http://mmbiz.qpic.cn/' in response.text
    assert "card-notice" not in page.ids
    assert "page-qr" not in page.ids
    assert "/static/landing.js" in response.text
    assert "landing-messages" in page.ids


def test_page_english(backend: Backend) -> None:
    response, page = get_page(backend, WEIXIN_IOS_EN)
    assert page.html["lang"] == "en"
    assert page.body["data-lang"] == "en"
    assert "Add to Cards &amp; Offers" in response.text
    assert "添加到卡包" not in response.text
    messages = json.loads(_script_messages(response.text))
    assert messages["added"] == SCRIPT["added"][EN]


def _script_messages(html: str) -> str:
    start = html.index('id="landing-messages" type="application/json">') + len('id="landing-messages" type="application/json">')
    return html[start : html.index("</script>", start)]


def test_texts_exist_in_both_languages() -> None:
    for table in (PAGE, SCRIPT):
        for key, texts in table.items():
            assert set(texts) == {ZH, EN}, key
            assert all(value.strip() for value in texts.values()), key


@pytest.mark.parametrize(
    ("user_agent", "client_class", "notice_key", "has_qr", "has_link"),
    [
        (WEIXIN_OUTDATED, "weixin-outdated", "client_weixin-outdated", False, False),
        (WEIXIN_WINDOWS, "weixin-desktop", "client_weixin-desktop", True, False),
        (WECOM, "wecom", "client_wecom", True, True),
        (MINI_PROGRAM, "mini-program", "client_mini-program", True, True),
        (DESKTOP_BROWSER, "browser", "client_browser", True, False),
        (PHONE_BROWSER, "browser", "client_browser_mobile", True, True),
    ],
    ids=["outdated", "desktop", "wecom", "mini-program", "desktop-browser", "phone-browser"],
)
def test_page_per_client_class(
    backend: Backend, user_agent: str, client_class: str, notice_key: str, has_qr: bool, has_link: bool
) -> None:
    response, page = get_page(backend, user_agent, query="?outer_str=qr")
    assert response.status_code == 200
    assert page.body["data-client"] == client_class
    assert page.body["data-state"] == "idle"
    assert "add-card" not in page.ids
    assert page.ids["client-notice"]["data-client"] == client_class
    assert PAGE[notice_key][ZH] in response.text
    assert "132元双人火锅套餐" in response.text
    assert ("page-qr" in page.ids) is has_qr
    assert ("page-link" in page.ids) is has_link
    if has_qr:
        assert "<svg" in response.text
    if has_link:
        assert page.ids["page-link"]["value"] == f"{backend.url}/cards/hotpot?outer_str=qr"


def test_page_qr_encodes_page_url(backend: Backend) -> None:
    import segno

    response, _ = get_page(backend, DESKTOP_BROWSER, query="?outer_str=qr")
    expected = segno.make(f"{backend.url}/cards/hotpot?outer_str=qr", error="m").svg_inline(
        scale=4, border=2, dark="#111", light="#fff", omitsize=True
    )
    assert expected in response.text


def test_page_too_long_for_qr_shows_link(backend: Backend) -> None:
    # A QR code encodes at most about 2,300 bytes at level M, so this URL gets the link instead.
    query = "?outer_str=qr&from=" + "a" * 2400

    response, page = get_page(backend, DESKTOP_BROWSER, query=query)

    assert response.status_code == 200
    assert "page-qr" not in page.ids
    assert page.ids["page-link"]["value"] == f"{backend.url}/cards/hotpot{query}"


def test_page_unknown_campaign(backend: Backend) -> None:
    for user_agent, language in ((WEIXIN_IOS, ZH), (WEIXIN_IOS_EN, EN)):
        response, page = get_page(backend, user_agent, campaign="nosuch")
        assert response.status_code == 404
        assert page.html["lang"] == language
        assert page.body["data-error"] == "campaign-not-found"
        assert PAGE["not_found_title"][language] in response.text
        assert "nosuch" in response.text


def test_page_card_in_review(backend: Backend) -> None:
    response, page = get_page(backend, WEIXIN_IOS, campaign="review")
    assert page.body["data-card-state"] == "in_review"
    assert page.body["data-state"] == "loading"
    assert page.ids["card-notice"]["data-card-state"] == "in_review"
    assert PAGE["card_in_review"][ZH] in response.text
    assert PAGE["add_button_whitelist"][ZH] in response.text


@pytest.mark.parametrize(
    ("status", "state"),
    [("CARD_STATUS_VERIFY_FAIL", "rejected"), ("CARD_STATUS_DELETE", "deleted")],
)
def test_page_card_not_addable(backend: Backend, sandbox: SandboxServer, tmp_path: Path, status: str, state: str) -> None:
    card_id = create_cards(sandbox, tmp_path / "more.sqlite3", ["不能领的券"])[0]
    set_card_status(sandbox, card_id, status)
    other = tmp_path / "second"
    other.mkdir()
    with start_backend(other, sandbox.base_url, {"blocked": [backend.card_ids[0], card_id]}) as second:
        response = httpx.get(f"{second.base_url}/cards/blocked", headers={"User-Agent": WEIXIN_IOS_EN})
    page = parse_page(response.text)
    assert response.status_code == 200
    assert page.body["data-card-state"] == state
    assert page.body["data-state"] == "unavailable"
    assert "add-card" not in page.ids
    assert PAGE[f"card_{state}"][EN] in response.text


def test_page_card_not_found(sandbox: SandboxServer, tmp_path: Path) -> None:
    with start_backend(tmp_path, sandbox.base_url, {"ghost": ["pNotACardOfThisAppid00000000"]}) as server:
        response = httpx.get(f"{server.base_url}/cards/ghost", headers={"User-Agent": WEIXIN_IOS})
    page = parse_page(response.text)
    assert response.status_code == 200
    assert page.body["data-card-state"] == "not_found"
    assert "add-card" not in page.ids
    assert PAGE["card_not_found"][ZH] in response.text


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_weixin_unreachable(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="h5.landing")
    api_base = f"http://127.0.0.1:{_closed_port()}"
    with start_backend(tmp_path, api_base, {"hotpot": ["pAnyCardId000000000000000000"]}) as server:
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200

        response = httpx.get(f"{server.base_url}/cards/hotpot", headers={"User-Agent": WEIXIN_IOS})
        page = parse_page(response.text)
        assert response.status_code == 200
        assert page.body["data-card-state"] == "unreachable"
        assert "add-card" not in page.ids
        assert PAGE["card_unreachable"][ZH] in response.text

        card_ext = httpx.get(f"{server.base_url}/cards/hotpot/card-ext")
        assert card_ext.status_code == 503
        assert card_ext.headers["retry-after"] == "30"
        assert card_ext.json()["error"] == "weixin_unavailable"

        url = encode_uri_component(f"{server.base_url}/cards/hotpot")
        config = httpx.get(f"{server.base_url}/jssdk/config?url={url}")
        assert config.status_code == 503
        assert config.headers["retry-after"] == "30"
        assert "Traceback" not in config.text

        # The start-up check runs in the background; wait for its line, not for a duration.
        deadline = time.monotonic() + 20
        while "state=unreachable" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "campaign=hotpot card_id=pAnyCardId000000000000000000 state=unreachable" in caplog.text


def test_startup_logs_card_states(backend: Backend, caplog: pytest.LogCaptureFixture, sandbox: SandboxServer, tmp_path: Path) -> None:
    caplog.set_level(logging.INFO, logger="h5.landing")
    other = tmp_path / "logged"
    other.mkdir()
    with start_backend(other, sandbox.base_url, {"hotpot": backend.card_ids[:1], "review": backend.card_ids[2:]}):
        deadline = time.monotonic() + 20
        while "campaign=review" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    assert f"campaign=hotpot card_id={backend.card_ids[0]} state=approved" in caplog.text
    assert f"campaign=review card_id={backend.card_ids[2]} state=in_review" in caplog.text


# -- concurrency ----------------------------------------------------------------------------


def test_concurrent_first_requests_fetch_once(sandbox: SandboxServer, tmp_path: Path) -> None:
    card_ids = create_cards(sandbox, tmp_path / "setup.sqlite3", ["并发测试券"])
    set_card_status(sandbox, card_ids[0], "CARD_STATUS_VERIFY_OK")
    before = sandbox_stats(sandbox)

    with start_backend(tmp_path, sandbox.base_url, {"hotpot": card_ids}) as server:
        config_url = f"{server.base_url}/jssdk/config?url={encode_uri_component('https://h5.example.com/cards/hotpot')}"
        card_ext_url = f"{server.base_url}/cards/hotpot/card-ext?outer_str=burst"
        urls = [config_url if i % 2 else card_ext_url for i in range(50)]

        with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=60)) as client:
            with ThreadPoolExecutor(max_workers=50) as pool:
                statuses = list(pool.map(lambda url: client.get(url).status_code, urls))

    after = sandbox_stats(sandbox)
    assert statuses == [200] * 50
    assert after["token_fetches"] - before["token_fetches"] == 1
    assert after["ticket_fetches"]["jsapi"] - before["ticket_fetches"]["jsapi"] == 1
    assert after["ticket_fetches"]["wx_card"] - before["ticket_fetches"]["wx_card"] == 1


# -- commands -------------------------------------------------------------------------------


def run_wxcard(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base_env = {key: value for key, value in os.environ.items() if not key.startswith("WXCARD_")}
    base_env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "h5.cli.main", *args],
        env={**base_env, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _serve_env(tmp_path: Path, api_base: str = "http://127.0.0.1:9") -> dict[str, str]:
    tmp_path.mkdir(exist_ok=True)
    campaign_file = tmp_path / "campaigns.toml"
    campaign_file.write_text('[campaigns.hotpot]\ncards = ["pAnyCardId000000000000000000"]\n', encoding="utf-8")
    return {
        "WXCARD_APPID": DEFAULT_APPID,
        "WXCARD_APPSECRET": DEFAULT_SECRET,
        "WXCARD_API_BASE": api_base,
        "WXCARD_CAMPAIGNS": str(campaign_file),
        "WXCARD_STORE": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        "WXCARD_SECRET_KEY": "test-secret-key-0123456789",
        "WXCARD_PUBLIC_HOSTS": "h5.example.com",
    }


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"WXCARD_APPID": ""}, "WXCARD_APPID"),
        ({"WXCARD_APPSECRET": ""}, "WXCARD_APPSECRET"),
        ({"WXCARD_PUBLIC_HOSTS": ""}, "WXCARD_PUBLIC_HOSTS"),
        ({"WXCARD_SECRET_KEY": "short"}, "WXCARD_SECRET_KEY"),
        ({"WXCARD_CAMPAIGNS": "missing-campaigns.toml"}, "WXCARD_CAMPAIGNS"),
        ({"WXCARD_STORE": "mysql://db/wxcard"}, "WXCARD_STORE"),
    ],
    ids=["appid", "appsecret", "public-hosts", "secret-key", "campaigns", "store"],
)
def test_serve_bad_setting_exits_2(tmp_path: Path, change: dict[str, str], setting: str) -> None:
    env = {**_serve_env(tmp_path), **change}
    result = run_wxcard(["serve", "--port", "0"], env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert setting in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["serve", "campaigns"])
def test_unusable_store_exits_2(tmp_path: Path, command: str) -> None:
    env = {**_serve_env(tmp_path), "WXCARD_STORE": "redis://:store-password@127.0.0.1:notaport/0"}

    result = run_wxcard([command, "--port", "0"] if command == "serve" else [command], env, tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"wxcard {command}: invalid setting WXCARD_STORE")
    assert "store-password" not in line


def test_serve_runs_and_answers_healthz(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = _serve_env(tmp_path)
    base_env = {key: value for key, value in os.environ.items() if not key.startswith("WXCARD_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "h5.cli.main", "serve", "--port", str(port), "--workers", "2"],
        env={**base_env, **env, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert status == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "Traceback" not in output


def test_campaigns_command_lists_states(backend: Backend, sandbox: SandboxServer, tmp_path: Path) -> None:
    env = _serve_env(tmp_path / "cli", sandbox.base_url)
    campaigns = {"hotpot": backend.card_ids[:2], "review": backend.card_ids[2:], "ghost": ["pGhost0000000000000000000000"]}
    settings_for(tmp_path / "cli", sandbox.base_url, campaigns)

    result = run_wxcard(["campaigns", "--json"], env, tmp_path)
    assert result.returncode == 1, result.stderr
    assert "cannot be added" in result.stderr
    assert "pGhost0000000000000000000000" in result.stderr
    states = {(item["campaign"], item["card_id"]): item["state"] for item in json.loads(result.stdout)}
    assert states == {
        ("hotpot", backend.card_ids[0]): "approved",
        ("hotpot", backend.card_ids[1]): "approved",
        ("review", backend.card_ids[2]): "in_review",
        ("ghost", "pGhost0000000000000000000000"): "not_found",
    }

    table = run_wxcard(["campaigns"], env, tmp_path)
    assert table.returncode == 1
    assert "132元双人火锅套餐" in table.stdout
    assert "in_review" in table.stdout
    assert "not_found" in table.stdout

    del campaigns["ghost"]
    settings_for(tmp_path / "cli", sandbox.base_url, campaigns)
    addable = run_wxcard(["campaigns"], env, tmp_path)
    assert addable.returncode == 0, addable.stderr


def test_campaigns_command_unreachable(tmp_path: Path) -> None:
    env = _serve_env(tmp_path, f"http://127.0.0.1:{_closed_port()}")
    result = run_wxcard(["campaigns", "--json"], env, tmp_path)
    assert result.returncode == 1
    assert json.loads(result.stdout)[0]["state"] == "unreachable"
    assert "Traceback" not in result.stderr


def test_campaigns_command_bad_setting(tmp_path: Path) -> None:
    env = {**_serve_env(tmp_path), "WXCARD_APPID": "not-an-appid"}
    result = run_wxcard(["campaigns"], env, tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "WXCARD_APPID" in result.stderr


def test_campaigns_command_store_unreachable(tmp_path: Path) -> None:
    env = {**_serve_env(tmp_path), "WXCARD_STORE": f"redis://127.0.0.1:{_closed_port()}/0"}

    result = run_wxcard(["campaigns"], env, tmp_path)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("wxcard campaigns: ")
    assert "WXCARD_STORE" in last_line
