"""The sandbox as a real HTTP server on loopback, called with httpx like a Weixin client would."""

from __future__ import annotations

import base64
import copy
import json
import struct
import subprocess
import sys
import threading
import zlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.sandbox.server import SandboxServer
from h5.sandbox.state import SandboxState

OPENID = "oFS7Fjl0WsZ9AMZqrI80nbIq8xrA"
OTHER_OPENID = "oFS7Fjl0WsZ9AMZqrI80nbIq8xrB"


# -- helpers ---------------------------------------------------------------------------------


def _segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def tiny_jpeg() -> bytes:
    """Build a valid 8x8 grey baseline JPEG: one DC and one AC Huffman code, a single block."""
    return (
        b"\xff\xd8"
        + _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + _segment(0xDB, b"\x00" + bytes([1] * 64))
        + _segment(0xC0, b"\x08\x00\x08\x00\x08\x01\x01\x11\x00")
        + _segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")
        + _segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00")
        + _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f"
        + b"\xff\xd9"
    )


def tiny_png() -> bytes:
    """Build a valid 1x1 RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")


class Weixin:
    """A minimal Weixin caller: fetches a token once and sends calls with it."""

    def __init__(self, server: SandboxServer, appid: str = DEFAULT_APPID, secret: str = DEFAULT_SECRET) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.base_url, timeout=10, trust_env=False)
        self.appid = appid
        self.secret = secret
        self.token = self.fetch_token()["access_token"]

    def fetch_token(self, **overrides: str) -> dict[str, Any]:
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret, **overrides}
        return self.http.get("/cgi-bin/token", params=params).json()

    def post(self, path: str, body: Any, token: str | None = None) -> dict[str, Any]:
        response = self.http.post(f"/{path}", params={"access_token": token or self.token}, json=body)
        assert response.status_code == 200
        return response.json()

    def get(self, path: str, token: str | None = None, **params: str) -> dict[str, Any]:
        response = self.http.get(f"/{path}", params={"access_token": token or self.token, **params})
        assert response.status_code == 200
        return response.json()

    def upload(self, content: bytes, field: str = "buffer", name: str = "logo.png") -> dict[str, Any]:
        response = self.http.post(
            "/cgi-bin/media/uploadimg", params={"access_token": self.token},
            files={field: (name, content, "application/octet-stream")},
        )
        return response.json()

    def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"/sandbox/{path}", **kwargs)


@pytest.fixture
def wx(sandbox: SandboxServer) -> Weixin:
    """A caller of the shared sandbox fixture, whose clock is frozen so only ``advance`` moves it."""
    frozen = float(int(sandbox.state.clock()))
    sandbox.state.clock = lambda: frozen
    return Weixin(sandbox)


def groupon(now: float, **base_overrides: Any) -> dict[str, Any]:
    """Return a valid GROUPON card/create body valid from a minute ago for 30 days."""
    base_info = {
        "logo_url": "http://mmbiz.qpic.cn/mmbiz/iaL1LJM1mF9aRKPZJkmG8xXhiaHqkKSVMMWeN3hLut7X7hicFNjakmxibMLGWpXrEXB33367o7zHN0CwngnQY7zb7g/0",
        "code_type": "CODE_TYPE_QRCODE",
        "brand_name": "微信餐厅",
        "title": "132元双人火锅套餐",
        "color": "Color010",
        "notice": "使用时向服务员出示此券",
        "description": "不可与其他优惠同享\n仅限堂食",
        "sku": {"quantity": 100},
        "date_info": {
            "type": "DATE_TYPE_FIX_TIME_RANGE",
            "begin_timestamp": int(now) - 60,
            "end_timestamp": int(now) + 30 * 86400,
        },
        "custom_url_name": "立即使用",
        "custom_url": "https://h5.example.com/cards/redirect?campaign=hotpot",
    }
    base_info.update(base_overrides)
    return {"card": {"card_type": "GROUPON", "groupon": {"base_info": base_info, "deal_detail": "双人套餐"}}}


def create_card(wx: Weixin, body: dict[str, Any] | None = None, approve: bool = True) -> str:
    answer = wx.post("card/create", body or groupon(wx.server.state.now()))
    assert answer["errcode"] == 0, answer
    if approve:
        wx.server.state.set_card_status(answer["card_id"], "CARD_STATUS_VERIFY_OK")
    return answer["card_id"]


def issue(wx: Weixin, card_id: str, openid: str = OPENID, **extra: Any) -> dict[str, Any]:
    response = wx.control("POST", "codes/issue", json={"appid": wx.appid, "card_id": card_id, "openid": openid, **extra})
    assert response.status_code == 200, response.text
    return response.json()


# -- access tokens ---------------------------------------------------------------------------


def test_token_rotation_keeps_old_for_300_seconds(wx: Weixin) -> None:
    state = wx.server.state
    first = wx.token
    second = wx.fetch_token()["access_token"]
    assert second != first

    assert wx.get("card/getcolors", token=first)["errcode"] == 0
    state.advance(299)
    assert wx.get("card/getcolors", token=first)["errcode"] == 0
    state.advance(2)
    assert wx.get("card/getcolors", token=first)["errcode"] == 40001
    assert wx.get("card/getcolors", token=second)["errcode"] == 0


def test_token_expires_after_expires_in(wx: Weixin) -> None:
    answer = wx.fetch_token()
    assert answer["expires_in"] == 7200
    wx.server.state.advance(7199)
    assert wx.get("card/getcolors", token=answer["access_token"])["errcode"] == 0
    wx.server.state.advance(2)
    assert wx.get("card/getcolors", token=answer["access_token"])["errcode"] == 42001


def test_token_credential_errors(wx: Weixin) -> None:
    assert wx.fetch_token(grant_type="password")["errcode"] == 40002
    assert wx.fetch_token(appid="wx0000000000000000")["errcode"] == 40013
    assert wx.fetch_token(secret="0" * 32)["errcode"] == 40125
    assert wx.fetch_token(appid="")["errcode"] == 41002
    assert wx.fetch_token(secret="")["errcode"] == 41004
    answer = wx.fetch_token(secret="wrong")
    assert answer["errmsg"].startswith("invalid appsecret hint: [")


def test_api_token_errors(wx: Weixin) -> None:
    missing = wx.http.get("/card/getcolors").json()
    assert missing["errcode"] == 41001
    assert wx.get("card/getcolors", token="not-a-token")["errcode"] == 40014
    assert wx.post("card/get", {"card_id": "p"}, token="not-a-token")["errcode"] == 40014


def test_token_daily_quota(wx: Weixin) -> None:
    state = wx.server.state
    assert state.token_daily_quota == 2000
    state.token_daily_quota = 3
    # The fixture's Weixin caller used one fetch already.
    assert "access_token" in wx.fetch_token()
    assert "access_token" in wx.fetch_token()
    assert wx.fetch_token()["errcode"] == 45009
    state.advance(86400)
    assert "access_token" in wx.fetch_token()


def test_tokens_expire_control(wx: Weixin) -> None:
    response = wx.control("POST", "tokens/expire", json={"appid": DEFAULT_APPID})
    assert response.json() == {"appid": DEFAULT_APPID, "expired": 1}
    assert wx.get("card/getcolors")["errcode"] == 42001
    fresh = wx.fetch_token()["access_token"]
    assert wx.get("card/getcolors", token=fresh)["errcode"] == 0


def test_token_fetches_counted(wx: Weixin) -> None:
    wx.fetch_token()
    wx.fetch_token(secret="wrong")
    stats = wx.control("GET", "stats").json()
    assert stats["token_fetches"] == 2
    assert stats["calls"]["cgi-bin/token"] == 3


# -- stable_token ----------------------------------------------------------------------------


def stable(wx: Weixin, force: bool | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"grant_type": "client_credential", "appid": wx.appid, "secret": wx.secret}
    if force is not None:
        body["force_refresh"] = force
    return wx.http.post("/cgi-bin/stable_token", json=body).json()


def test_stable_token_same_until_last_300_seconds(wx: Weixin) -> None:
    state = wx.server.state
    first = stable(wx)
    assert first["expires_in"] == 7200
    assert stable(wx)["access_token"] == first["access_token"]

    state.advance(6899)
    again = stable(wx)
    assert again["access_token"] == first["access_token"]
    assert again["expires_in"] == 301

    state.advance(2)
    renewed = stable(wx)
    assert renewed["access_token"] != first["access_token"]
    assert renewed["expires_in"] == 7200
    # The old token stays valid for the rest of its lifetime, then returns 42001.
    assert wx.get("card/getcolors", token=first["access_token"])["errcode"] == 0
    state.advance(300)
    assert wx.get("card/getcolors", token=first["access_token"])["errcode"] == 42001
    assert wx.get("card/getcolors", token=renewed["access_token"])["errcode"] == 0


def test_stable_token_isolated_from_token(wx: Weixin) -> None:
    held = stable(wx)["access_token"]
    wx.fetch_token()
    wx.fetch_token()
    wx.server.state.advance(301)
    assert wx.get("card/getcolors", token=held)["errcode"] == 0
    assert stable(wx)["access_token"] == held
    assert wx.control("GET", "stats").json()["stable_token_fetches"] == 2


def test_stable_token_force_refresh(wx: Weixin) -> None:
    state = wx.server.state
    first = stable(wx)["access_token"]
    forced = stable(wx, force=True)["access_token"]
    assert forced != first
    assert wx.get("card/getcolors", token=first)["errcode"] == 40001

    # A second forced refresh within 30 s does not refresh.
    state.advance(10)
    assert stable(wx, force=True)["access_token"] == forced
    state.advance(21)
    assert stable(wx, force=True)["access_token"] != forced


def test_stable_token_checks_body(wx: Weixin) -> None:
    bad_secret = wx.http.post(
        "/cgi-bin/stable_token", json={"grant_type": "client_credential", "appid": wx.appid, "secret": "x"},
    ).json()
    assert bad_secret["errcode"] == 40125
    bad_force = wx.http.post(
        "/cgi-bin/stable_token",
        json={"grant_type": "client_credential", "appid": wx.appid, "secret": wx.secret, "force_refresh": "yes"},
    ).json()
    assert bad_force["errcode"] == 47001


# -- tickets ---------------------------------------------------------------------------------


def test_ticket_stable_within_lifetime(wx: Weixin) -> None:
    jsapi = wx.get("cgi-bin/ticket/getticket", type="jsapi")
    assert jsapi["errcode"] == 0
    assert jsapi["errmsg"] == "ok"
    assert jsapi["expires_in"] == 7200
    assert wx.get("cgi-bin/ticket/getticket", type="jsapi")["ticket"] == jsapi["ticket"]

    card = wx.get("cgi-bin/ticket/getticket", type="wx_card")
    assert card["ticket"] != jsapi["ticket"]
    current = wx.control("GET", "tickets", params={"appid": DEFAULT_APPID}).json()
    assert current == {"jsapi": jsapi["ticket"], "wx_card": card["ticket"]}

    wx.server.state.advance(7200)
    assert wx.control("GET", "tickets", params={"appid": DEFAULT_APPID}).json() == {"jsapi": None, "wx_card": None}
    # The access_token expired at the same time as the tickets.
    wx.token = wx.fetch_token()["access_token"]
    assert wx.get("cgi-bin/ticket/getticket", type="jsapi")["ticket"] != jsapi["ticket"]
    stats = wx.control("GET", "stats").json()
    assert stats["ticket_fetches"] == {"jsapi": 3, "wx_card": 1}


def test_ticket_bad_type(wx: Weixin) -> None:
    assert wx.get("cgi-bin/ticket/getticket", type="card")["errcode"] == 40097
    assert wx.get("cgi-bin/ticket/getticket")["errcode"] == 40097


# -- uploadimg -------------------------------------------------------------------------------


def test_uploadimg_png_and_jpeg_served_back(wx: Weixin) -> None:
    for content, content_type in ((tiny_png(), "image/png"), (tiny_jpeg(), "image/jpeg")):
        answer = wx.upload(content)
        assert set(answer) == {"url"}
        image = wx.http.get(answer["url"])
        assert image.status_code == 200
        assert image.headers["content-type"] == content_type
        assert image.content == content


def test_uploadimg_limits(wx: Weixin) -> None:
    too_big = tiny_png() + b"\x00" * (1024 * 1024)
    assert wx.upload(too_big)["errcode"] == 40009
    assert wx.upload(b"GIF89a" + b"\x00" * 20)["errcode"] == 40009
    assert wx.upload(tiny_png(), field="media")["errcode"] == 41005
    at_limit = tiny_png() + b"\x00" * (1024 * 1024 - len(tiny_png()))
    assert "url" in wx.upload(at_limit)


def test_card_create_accepts_uploaded_logo_only(wx: Weixin) -> None:
    now = wx.server.state.now()
    logo_url = wx.upload(tiny_png())["url"]
    assert wx.post("card/create", groupon(now, logo_url=logo_url))["errcode"] == 0
    foreign = wx.post("card/create", groupon(now, logo_url="https://example.com/logo.png"))
    assert foreign["errcode"] != 0
    assert "logo_url" in foreign["errmsg"]


# -- card/create and card/get ----------------------------------------------------------------


def test_card_create_returns_card_id(wx: Weixin) -> None:
    answer = wx.post("card/create", groupon(wx.server.state.now()))
    assert answer["errcode"] == 0
    assert answer["errmsg"] == "ok"
    assert len(answer["card_id"]) == 28
    assert answer["card_id"].startswith("p")


def test_card_create_missing_field_named(wx: Weixin) -> None:
    body = groupon(wx.server.state.now())
    del body["card"]["groupon"]["base_info"]["title"]
    answer = wx.post("card/create", body)
    assert answer["errcode"] == 41011
    assert answer["errmsg"].startswith("missing required fields!")
    assert answer["errmsg"].endswith("m_data.base_info().title")

    body = groupon(wx.server.state.now())
    del body["card"]["groupon"]["deal_detail"]
    assert wx.post("card/create", body)["errcode"] == 41011


def test_card_create_byte_limits(wx: Weixin) -> None:
    now = wx.server.state.now()
    assert wx.post("card/create", groupon(now, title="一二三四五六七八九"))["errcode"] == 0
    too_long = wx.post("card/create", groupon(now, title="一二三四五六七八九十"))
    assert too_long["errcode"] == 45021
    assert "title" in too_long["errmsg"]
    assert wx.post("card/create", groupon(now, brand_name="a" * 37))["errcode"] == 45021
    assert wx.post("card/create", groupon(now, notice="通" * 17))["errcode"] == 45021


def test_card_create_type_checks(wx: Weixin) -> None:
    now = wx.server.state.now()
    body = groupon(now)
    body["card"]["card_type"] = "COUPON"
    assert wx.post("card/create", body)["errcode"] == 40071

    # The inner key must be card_type in lower case.
    body = groupon(now)
    body["card"]["card_type"] = "CASH"
    assert wx.post("card/create", body)["errcode"] == 41011

    assert wx.post("card/create", groupon(now, code_type="CODE_TYPE_PDF417"))["errcode"] == 40072
    assert wx.post("card/create", groupon(now, color="Color103"))["errcode"] != 0
    assert wx.post("card/create", groupon(now, color="Color102"))["errcode"] == 0


def test_card_create_date_rules(wx: Weixin) -> None:
    now = int(wx.server.state.now())
    past = {"type": "DATE_TYPE_FIX_TIME_RANGE", "begin_timestamp": now - 7200, "end_timestamp": now - 60}
    assert wx.post("card/create", groupon(now, date_info=past))["errcode"] == 40079
    reversed_range = {"type": "DATE_TYPE_FIX_TIME_RANGE", "begin_timestamp": now + 7200, "end_timestamp": now + 3600}
    assert wx.post("card/create", groupon(now, date_info=reversed_range))["errcode"] == 40100
    no_end = {"type": "DATE_TYPE_FIX_TIME_RANGE", "begin_timestamp": now}
    assert wx.post("card/create", groupon(now, date_info=no_end))["errcode"] == 41011
    term = {"type": "DATE_TYPE_FIX_TERM", "fixed_term": 30, "fixed_begin_term": 0}
    assert wx.post("card/create", groupon(now, date_info=term))["errcode"] == 0
    permanent = {"type": "DATE_TYPE_PERMANENT"}
    assert wx.post("card/create", groupon(now, date_info=permanent))["errcode"] == 40079


def test_card_create_stock_rules(wx: Weixin) -> None:
    now = wx.server.state.now()
    assert wx.post("card/create", groupon(now, sku={"quantity": 100_000_000}))["errcode"] == 0
    assert wx.post("card/create", groupon(now, sku={"quantity": 100_000_001}))["errcode"] == 40122
    deposit = {"use_custom_code": True, "get_custom_code_mode": "GET_CUSTOM_CODE_MODE_DEPOSIT"}
    assert wx.post("card/create", groupon(now, sku={"quantity": 5}, **deposit))["errcode"] == 40122
    assert wx.post("card/create", groupon(now, sku={"quantity": 0}, **deposit))["errcode"] == 0


def test_card_get_shape(wx: Weixin) -> None:
    card_id = create_card(wx, approve=False)
    answer = wx.post("card/get", {"card_id": card_id})
    assert answer["errcode"] == 0
    card = answer["card"]
    assert card["card_type"] == "GROUPON"
    base_info = card["groupon"]["base_info"]
    assert base_info["id"] == card_id
    assert base_info["color"] == "#63b359"
    assert base_info["status"] == "CARD_STATUS_NOT_VERIFY"
    assert base_info["sku"] == {"quantity": 100, "total_quantity": 100}
    assert base_info["title"] == "132元双人火锅套餐"
    assert card["groupon"]["deal_detail"] == "双人套餐"


def test_card_get_unknown_and_foreign(wx: Weixin) -> None:
    card_id = create_card(wx)
    assert wx.post("card/get", {"card_id": "p" + "x" * 27})["errcode"] == 40073

    wx.server.state.register_app("wx1111111111111111", "1" * 32)
    other = Weixin(wx.server, "wx1111111111111111", "1" * 32)
    assert other.post("card/get", {"card_id": card_id})["errcode"] == 40073


def test_card_get_utf8_without_escapes(wx: Weixin) -> None:
    card_id = create_card(wx)
    raw = wx.http.post("/card/get", params={"access_token": wx.token}, json={"card_id": card_id}).content
    assert "微信餐厅".encode("utf-8") in raw


def test_malformed_body(wx: Weixin) -> None:
    response = wx.http.post("/card/get", params={"access_token": wx.token}, content=b"{not json")
    assert response.json()["errcode"] == 47001
    response = wx.http.post("/card/get", params={"access_token": wx.token}, content=b"")
    assert response.json()["errcode"] == 44002


# -- QR codes and whitelist ------------------------------------------------------------------


def test_qrcode_single_and_multiple(wx: Weixin) -> None:
    first, second = create_card(wx), create_card(wx)
    single = wx.post("card/qrcode/create", {
        "action_name": "QR_CARD", "action_info": {"card": {"card_id": first, "outer_str": "12b"}},
    })
    assert single["errcode"] == 0
    assert single["expire_seconds"] == 365 * 86400
    assert single["url"].startswith("http://weixin.qq.com/q/")
    query = parse_qs(urlsplit(single["show_qrcode_url"]).query)
    assert query["ticket"] == [single["ticket"]]
    base64.b64decode(single["ticket"], validate=True)

    multiple = wx.post("card/qrcode/create", {
        "action_name": "QR_MULTIPLE_CARD", "expire_seconds": 1800,
        "action_info": {"multiple_card": {"card_list": [{"card_id": first}, {"card_id": second, "outer_str": "x"}]}},
    })
    assert multiple["errcode"] == 0
    assert multiple["expire_seconds"] == 1800


def test_qrcode_errors(wx: Weixin) -> None:
    card_id = create_card(wx)
    info = {"card": {"card_id": card_id}}
    assert wx.post("card/qrcode/create", {"action_name": "QR_CARD", "expire_seconds": 59, "action_info": info})["errcode"] != 0
    assert wx.post("card/qrcode/create", {"action_name": "QR_CARD", "expire_seconds": 1801, "action_info": info})["errcode"] != 0
    assert wx.post("card/qrcode/create", {"action_name": "QR_CARD", "expire_seconds": 60, "action_info": info})["errcode"] == 0
    unknown = {"card": {"card_id": "p" + "y" * 27}}
    assert wx.post("card/qrcode/create", {"action_name": "QR_CARD", "action_info": unknown})["errcode"] == 40073
    assert wx.post("card/qrcode/create", {"action_name": "QR_CARD", "action_info": {}})["errcode"] == 40053

    assert wx.post("card/delete", {"card_id": card_id}) == {"errcode": 0, "errmsg": "ok"}
    assert wx.post("card/qrcode/create", {"action_name": "QR_CARD", "action_info": info})["errcode"] == 40078


def test_qrcode_scan_passes_outer_str(wx: Weixin) -> None:
    card_id = create_card(wx)
    qr = wx.post("card/qrcode/create", {
        "action_name": "QR_CARD", "action_info": {"card": {"card_id": card_id, "outer_str": "poster_a"}},
    })
    scanned = wx.control("POST", "qrcodes/scan", json={"ticket": qr["ticket"], "openid": OPENID}).json()
    code = scanned["codes"][0]["code"]
    assert wx.post("card/code/get", {"code": code})["outer_str"] == "poster_a"


def test_whitelist_replaces_and_limits(wx: Weixin) -> None:
    openids = [f"oFS7Fjl0WsZ9AMZqrI80nbIq8x{i:02d}" for i in range(8)]
    answer = wx.post("card/testwhitelist/set", {"openid": openids, "username": ["eddy_wx", "tianye0327"]})
    assert answer == {
        "errcode": 0, "errmsg": "ok", "white_list_size": 10,
        "success_openid": openids, "success_username": ["eddy_wx", "tianye0327"],
    }
    assert wx.post("card/testwhitelist/set", {"openid": openids, "username": ["a" * 6, "b" * 6, "c" * 6]})["errcode"] != 0

    replaced = wx.post("card/testwhitelist/set", {"openid": [OPENID]})
    assert replaced["white_list_size"] == 1
    assert wx.server.state.whitelisted(DEFAULT_APPID, OPENID)
    assert not wx.server.state.whitelisted(DEFAULT_APPID, openids[0])


def test_unapproved_card_only_for_whitelist(wx: Weixin) -> None:
    card_id = create_card(wx, approve=False)
    refused = wx.control("POST", "codes/issue", json={"card_id": card_id, "openid": OPENID})
    assert refused.status_code == 409
    assert refused.json()["errcode"] == 40078
    wx.post("card/testwhitelist/set", {"openid": [OPENID]})
    assert issue(wx, card_id)["code"]


# -- codes -----------------------------------------------------------------------------------


def test_encrypt_code_is_base64_with_special_characters(wx: Weixin) -> None:
    card_id = create_card(wx)
    for _ in range(5):
        encrypt_code = issue(wx, card_id)["encrypt_code"]
        assert "+" in encrypt_code
        assert "/" in encrypt_code
        assert encrypt_code.endswith("=")
        assert base64.b64encode(base64.b64decode(encrypt_code, validate=True)).decode() == encrypt_code


def test_decrypt_accepts_only_exact_value(wx: Weixin) -> None:
    card_id = create_card(wx)
    issued = issue(wx, card_id)
    encrypt_code = issued["encrypt_code"]
    answer = wx.post("card/code/decrypt", {"encrypt_code": encrypt_code})
    assert answer == {"errcode": 0, "errmsg": "ok", "code": issued["code"]}

    variants = [
        encrypt_code.replace("+", " "),
        encrypt_code.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"),
        encrypt_code.rstrip("="),
        encrypt_code.replace("+", "-").replace("/", "_"),
    ]
    for variant in variants:
        assert wx.post("card/code/decrypt", {"encrypt_code": variant})["errcode"] == 40075
    assert wx.post("card/code/decrypt", {})["errcode"] == 41011


def test_code_get_consume_flow(wx: Weixin) -> None:
    card_id = create_card(wx)
    code = issue(wx, card_id, outer_str="12b")["code"]
    assert len(code) == 12
    assert code.isdigit()

    normal = wx.post("card/code/get", {"code": code, "check_consume": True})
    assert normal["errcode"] == 0
    assert normal["card"]["card_id"] == card_id
    assert normal["openid"] == OPENID
    assert normal["can_consume"] is True
    assert normal["user_card_status"] == "NORMAL"
    assert normal["outer_str"] == "12b"

    consumed = wx.post("card/code/consume", {"code": code})
    assert consumed == {"errcode": 0, "errmsg": "ok", "card": {"card_id": card_id}, "openid": OPENID}
    again = wx.post("card/code/consume", {"code": code})
    assert again["errcode"] == 40099
    assert again["errmsg"].startswith("invalid code, this code has consumed.")

    assert wx.post("card/code/get", {"code": code, "check_consume": True})["errcode"] == 40127
    assert wx.post("card/code/get", {"code": code})["errcode"] == 40127
    relaxed = wx.post("card/code/get", {"code": code, "check_consume": False})
    assert relaxed["errcode"] == 0
    assert relaxed["can_consume"] is False
    assert relaxed["user_card_status"] == "CONSUMED"


def test_code_unknown_is_40056(wx: Weixin) -> None:
    card_id = create_card(wx)
    assert wx.post("card/code/get", {"code": "000000000000", "check_consume": False})["errcode"] == 40056
    assert wx.post("card/code/get", {"code": "000000000000", "check_consume": True})["errcode"] == 40056
    assert wx.post("card/code/consume", {"code": "000000000000"})["errcode"] == 40056
    assert wx.post("card/code/consume", {"code": "000000000000", "card_id": card_id})["errcode"] == 40056


@pytest.mark.parametrize("status", ["DELETE", "GIFTING", "UNAVAILABLE", "GIFT_TIMEOUT"])
def test_code_not_consumable_statuses(wx: Weixin, status: str) -> None:
    card_id = create_card(wx)
    code = issue(wx, card_id)["code"]
    response = wx.control("POST", "codes/status", json={"code": code, "status": status})
    assert response.json() == {"card_id": card_id, "status": status}
    assert wx.post("card/code/consume", {"code": code})["errcode"] == 40127
    assert wx.post("card/code/get", {"code": code, "check_consume": True})["errcode"] == 40127
    relaxed = wx.post("card/code/get", {"code": code, "check_consume": False})
    assert relaxed["user_card_status"] == status
    assert relaxed["can_consume"] is False


def test_code_expires_with_card_dates(wx: Weixin) -> None:
    state = wx.server.state
    now = int(state.now())
    dates = {"type": "DATE_TYPE_FIX_TIME_RANGE", "begin_timestamp": now - 60, "end_timestamp": now + 3600}
    card_id = create_card(wx, groupon(now, date_info=dates))
    code = issue(wx, card_id)["code"]
    state.advance(3601)
    answer = wx.post("card/code/get", {"code": code, "check_consume": False})
    assert answer["user_card_status"] == "EXPIRE"
    assert answer["card"]["end_time"] == now + 3600
    assert wx.post("card/code/consume", {"code": code})["errcode"] != 0


def test_custom_code_card_needs_card_id(wx: Weixin) -> None:
    card_id = create_card(wx, groupon(wx.server.state.now(), use_custom_code=True))
    missing = wx.control("POST", "codes/issue", json={"card_id": card_id, "openid": OPENID})
    assert missing.json()["errcode"] == 41011
    assert issue(wx, card_id, code="HOTPOT-0001")["code"] == "HOTPOT-0001"
    duplicate = wx.control("POST", "codes/issue", json={"card_id": card_id, "openid": OPENID, "code": "HOTPOT-0001"})
    assert duplicate.status_code == 409

    assert wx.post("card/code/consume", {"code": "HOTPOT-0001"})["errcode"] == 41012
    assert wx.post("card/code/consume", {"code": "HOTPOT-0001", "card_id": card_id})["errcode"] == 0


def test_issue_respects_limits(wx: Weixin) -> None:
    card_id = create_card(wx, groupon(wx.server.state.now(), get_limit=2, sku={"quantity": 3}))
    issue(wx, card_id)
    issue(wx, card_id)
    over_limit = wx.control("POST", "codes/issue", json={"card_id": card_id, "openid": OPENID})
    assert over_limit.json()["errcode"] == 45033
    issue(wx, card_id, openid=OTHER_OPENID)
    sold_out = wx.control("POST", "codes/issue", json={"card_id": card_id, "openid": "o_third_user"})
    assert sold_out.json()["errcode"] == 45031
    sku = wx.post("card/get", {"card_id": card_id})["card"]["groupon"]["base_info"]["sku"]
    assert sku == {"quantity": 0, "total_quantity": 3}


def test_bind_openid_card(wx: Weixin) -> None:
    card_id = create_card(wx, groupon(wx.server.state.now(), bind_openid=True))
    unbound = wx.control("POST", "codes/issue", json={"card_id": card_id, "openid": OPENID})
    assert unbound.json()["errcode"] == 41011
    wrong = wx.control("POST", "codes/issue", json={"card_id": card_id, "openid": OPENID, "bound_openid": OTHER_OPENID})
    assert wrong.json()["errcode"] == 40003
    assert issue(wx, card_id, bound_openid=OPENID)["openid"] == OPENID


def test_deleted_card_keeps_received_codes(wx: Weixin) -> None:
    card_id = create_card(wx)
    code = issue(wx, card_id)["code"]
    wx.post("card/delete", {"card_id": card_id})
    assert wx.post("card/get", {"card_id": card_id})["card"]["groupon"]["base_info"]["status"] == "CARD_STATUS_DELETE"
    assert wx.control("POST", "codes/issue", json={"card_id": card_id, "openid": OTHER_OPENID}).json()["errcode"] == 40078
    assert wx.post("card/code/consume", {"code": code})["errcode"] == 0


# -- deposit ---------------------------------------------------------------------------------


def deposit_card(wx: Weixin) -> str:
    body = groupon(
        wx.server.state.now(), sku={"quantity": 0},
        use_custom_code=True, get_custom_code_mode="GET_CUSTOM_CODE_MODE_DEPOSIT",
    )
    return create_card(wx, body)


def test_deposit_lists_and_limit(wx: Weixin) -> None:
    card_id = deposit_card(wx)
    too_many = wx.post("card/code/deposit", {"card_id": card_id, "code": [f"C{i:05d}" for i in range(101)]})
    assert too_many["errcode"] == 40109

    answer = wx.post("card/code/deposit", {"card_id": card_id, "code": ["A1", "A2", "A1", "bad code", "x" * 21]})
    assert answer["errcode"] == 0
    assert answer["succ_code"] == ["A1", "A2"]
    assert answer["duplicate_code"] == ["A1"]
    assert answer["fail_code"] == ["bad code", "x" * 21]

    again = wx.post("card/code/deposit", {"card_id": card_id, "code": ["A2", "A3"]})
    assert again["succ_code"] == ["A3"]
    assert again["duplicate_code"] == ["A2"]
    assert wx.post("card/code/getdepositcount", {"card_id": card_id}) == {"errcode": 0, "errmsg": "ok", "count": 3}
    checked = wx.post("card/code/checkcode", {"card_id": card_id, "code": ["A1", "Z9"]})
    assert checked["exist_code"] == ["A1"]
    assert checked["not_exist_code"] == ["Z9"]
    assert wx.post("card/code/checkcode", {"card_id": card_id, "code": ["Z"] * 101})["errcode"] == 40109


def test_deposit_stock_and_issue(wx: Weixin) -> None:
    card_id = deposit_card(wx)
    wx.post("card/code/deposit", {"card_id": card_id, "code": ["D1", "D2"]})
    assert wx.post("card/modifystock", {"card_id": card_id, "increase_stock_value": 3})["errcode"] == 40122
    assert wx.post("card/modifystock", {"card_id": card_id, "increase_stock_value": 2}) == {"errcode": 0, "errmsg": "ok"}

    assert issue(wx, card_id)["code"] == "D1"
    assert issue(wx, card_id, openid=OTHER_OPENID)["code"] == "D2"
    sold_out = wx.control("POST", "codes/issue", json={"card_id": card_id, "openid": "o_third_user"})
    assert sold_out.json()["errcode"] == 45031


def test_deposit_needs_deposit_mode_card(wx: Weixin) -> None:
    card_id = create_card(wx)
    assert wx.post("card/code/deposit", {"card_id": card_id, "code": ["A1"]})["errcode"] != 0


def test_modifystock_bounds(wx: Weixin) -> None:
    card_id = create_card(wx)
    assert wx.post("card/modifystock", {"card_id": card_id, "reduce_stock_value": 101})["errcode"] == 40122
    assert wx.post("card/modifystock", {"card_id": card_id, "reduce_stock_value": 40})["errcode"] == 0
    sku = wx.post("card/get", {"card_id": card_id})["card"]["groupon"]["base_info"]["sku"]
    assert sku == {"quantity": 60, "total_quantity": 60}


# -- controls --------------------------------------------------------------------------------


def test_stats_count_calls(wx: Weixin) -> None:
    card_id = create_card(wx)
    for _ in range(3):
        wx.post("card/get", {"card_id": card_id})
    wx.post("card/get", {"card_id": card_id}, token="bad")
    stats = wx.control("GET", "stats").json()
    assert stats["calls"]["card/get"] == 4
    assert stats["calls"]["card/create"] == 1
    assert stats["token_fetches"] == 1


def test_requests_recorded_without_token(wx: Weixin) -> None:
    body = groupon(wx.server.state.now())
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    wx.http.post("/card/create", params={"access_token": wx.token}, content=raw,
                 headers={"content-type": "application/json; charset=utf-8"})
    recorded = wx.control("GET", "requests", params={"path": "card/create"}).json()
    assert len(recorded) == 1
    item = recorded[0]
    assert item["path"] == "card/create"
    assert item["method"] == "POST"
    assert item["content_type"] == "application/json; charset=utf-8"
    assert item["query"] == {"access_token": "REDACTED"}
    assert base64.b64decode(item["body_b64"]) == raw
    everything = json.dumps(wx.control("GET", "requests").json())
    assert wx.token not in everything


def test_faults_answer_errcode_then_recover(wx: Weixin) -> None:
    card_id = create_card(wx)
    added = wx.control("POST", "faults", json={"path": "card/get", "errcode": -1, "count": 2})
    assert added.json()["fault"]["count"] == 2
    assert wx.post("card/get", {"card_id": card_id})["errcode"] == -1
    assert wx.post("card/get", {"card_id": card_id})["errcode"] == -1
    assert wx.post("card/get", {"card_id": card_id})["errcode"] == 0


def test_fault_http_status_and_token_path(wx: Weixin) -> None:
    wx.control("POST", "faults", json={"path": "cgi-bin/token", "http_status": 503})
    response = wx.http.get("/cgi-bin/token", params={"grant_type": "client_credential", "appid": wx.appid, "secret": wx.secret})
    assert response.status_code == 503
    assert "access_token" in wx.fetch_token()
    assert wx.control("POST", "faults", json={"path": "card/get"}).status_code == 400


def test_card_status_control(wx: Weixin) -> None:
    card_id = create_card(wx, approve=False)
    response = wx.control("POST", f"cards/{card_id}/status", json={"status": "CARD_STATUS_VERIFY_OK"})
    assert response.json() == {"card_id": card_id, "status": "CARD_STATUS_VERIFY_OK"}
    assert wx.control("POST", f"cards/{card_id}/status", json={"status": "APPROVED"}).status_code == 400
    assert wx.control("POST", "cards/pnothing/status", json={"status": "CARD_STATUS_VERIFY_OK"}).status_code == 409


def test_redirect_url(wx: Weixin) -> None:
    card_id = create_card(wx)
    issued = issue(wx, card_id, outer_str="12b")
    url = wx.control("GET", "redirect-url", params={"code": issued["code"]}).json()["url"]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://h5.example.com/cards/redirect"
    assert "%2B" in parts.query or "%2F" in parts.query
    query = parse_qs(parts.query)
    assert query["campaign"] == ["hotpot"]
    assert query["encrypt_code"] == [issued["encrypt_code"]]
    assert query["card_id"] == [card_id]
    assert query["openid"] == [OPENID]
    # outer_str is appended for member cards only.
    assert "outer_str" not in query

    base = wx.control("GET", "redirect-url", params={"code": issued["code"], "url": "http://127.0.0.1:9/x#frag"}).json()["url"]
    assert base.startswith("http://127.0.0.1:9/x?encrypt_code=")
    assert base.endswith("#frag")
    assert wx.control("GET", "redirect-url", params={"code": "000"}).status_code == 409


def test_redirect_url_member_card_outer_str(wx: Weixin) -> None:
    now = wx.server.state.now()
    body = groupon(now)
    inner = copy.deepcopy(body["card"]["groupon"])
    del inner["deal_detail"]
    inner["base_info"]["date_info"] = {"type": "DATE_TYPE_PERMANENT"}
    inner.update({"prerogative": "会员享九折", "supply_bonus": False, "supply_balance": False})
    card_id = create_card(wx, {"card": {"card_type": "MEMBER_CARD", "member_card": inner}})
    issued = issue(wx, card_id, outer_str="store_7")
    url = wx.control("GET", "redirect-url", params={"code": issued["code"]}).json()["url"]
    assert parse_qs(urlsplit(url).query)["outer_str"] == ["store_7"]


def test_redirect_url_cli(wx: Weixin) -> None:
    card_id = create_card(wx)
    issued = issue(wx, card_id)
    command = [sys.executable, "-m", "h5.cli.main", "sandbox", "--sandbox-url", wx.server.base_url]
    done = subprocess.run([*command, "--redirect-url", issued["code"]], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert parse_qs(urlsplit(done.stdout.strip()).query)["encrypt_code"] == [issued["encrypt_code"]]
    assert issued["code"] not in done.stderr

    unknown = subprocess.run([*command, "--redirect-url", "000"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 1
    assert "Traceback" not in unknown.stderr
    assert "invalid serial code" in unknown.stderr


# -- events ----------------------------------------------------------------------------------


def test_events_emitted(wx: Weixin) -> None:
    state = wx.server.state
    seen: list[dict[str, Any]] = []
    state.listeners.append(seen.append)
    original_id = state.app(DEFAULT_APPID).original_id
    assert original_id.startswith("gh_")

    card_id = create_card(wx, approve=False)
    wx.control("POST", f"cards/{card_id}/status", json={"status": "CARD_STATUS_VERIFY_FAIL", "reason": "非法代制"})
    wx.control("POST", f"cards/{card_id}/status", json={"status": "CARD_STATUS_VERIFY_OK"})
    issued = issue(wx, card_id, outer_str="12b")
    wx.post("card/code/consume", {"code": issued["code"]})
    second = issue(wx, card_id)
    wx.control("POST", "codes/status", json={"code": second["code"], "status": "DELETE"})

    names = [event["Event"] for event in seen]
    assert names == ["card_not_pass_check", "card_pass_check", "user_get_card", "user_consume_card", "user_get_card", "user_del_card"]
    for event in seen:
        assert event["ToUserName"] == original_id
        assert event["MsgType"] == "event"
        assert isinstance(event["CreateTime"], int)
        assert event["CardId"] == card_id
    assert seen[0]["RefuseReason"] == "非法代制"
    got = seen[2]
    assert got["FromUserName"] == OPENID
    assert got["UserCardCode"] == issued["code"]
    assert got["OuterStr"] == "12b"
    assert got["IsGiveByFriend"] == 0
    assert seen[3]["ConsumeSource"] == "FROM_API"
    assert seen[3]["UserCardCode"] == issued["code"]
    assert "OuterStr" not in seen[4]
    assert seen[5]["UserCardCode"] == second["code"]
    assert wx.control("GET", "events").json() == seen


def test_failing_listener_does_not_break_calls(wx: Weixin) -> None:
    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("listener down")

    wx.server.state.listeners.append(broken)
    card_id = create_card(wx)
    code = issue(wx, card_id)["code"]
    assert wx.post("card/code/consume", {"code": code})["errcode"] == 0


# -- Python use and threads ------------------------------------------------------------------


def test_state_usable_from_threads() -> None:
    state = SandboxState()
    now = state.now()
    card_id = state.create_card(DEFAULT_APPID, groupon(now, sku={"quantity": 200}, get_limit=200))
    state.set_card_status(card_id, "CARD_STATUS_VERIFY_OK")
    codes: list[str] = []

    def receive() -> None:
        for _ in range(20):
            codes.append(state.issue_code(DEFAULT_APPID, card_id, OPENID).code)

    threads = [threading.Thread(target=receive) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(codes)) == 160
    assert state.card(card_id).quantity == 40


def test_server_with_injected_clock() -> None:
    moments = [1_700_000_000.0]
    with SandboxServer(clock=lambda: moments[0]) as server:
        wx = Weixin(server)
        old = wx.token
        wx.fetch_token()
        moments[0] += 301
        assert wx.get("card/getcolors", token=old)["errcode"] == 40001
        advanced = wx.control("POST", "clock", json={"advance": 10}).json()
        assert advanced["now"] == 1_700_000_311.0


# -- hostile and edge inputs -----------------------------------------------------------------


def test_card_create_rejects_non_text_types(wx: Weixin) -> None:
    body = groupon(wx.server.state.now())
    body["card"]["card_type"] = ["GROUPON"]
    assert wx.post("card/create", body)["errcode"] == 40071

    body = groupon(wx.server.state.now(), date_info={"type": ["DATE_TYPE_FIX_TERM"], "fixed_term": 30})
    assert wx.post("card/create", body)["errcode"] == 40079


def test_checkcode_non_text_codes_not_exist(wx: Weixin) -> None:
    card_id = deposit_card(wx)
    wx.post("card/code/deposit", {"card_id": card_id, "code": ["A1"]})
    checked = wx.post("card/code/checkcode", {"card_id": card_id, "code": ["A1", ["A1"], {"code": "A1"}]})
    assert checked["errcode"] == 0
    assert checked["exist_code"] == ["A1"]
    assert checked["not_exist_code"] == [["A1"], {"code": "A1"}]


def test_qrcode_outer_id_must_be_integer(wx: Weixin) -> None:
    card_id = create_card(wx)
    info = {"card": {"card_id": card_id, "outer_id": "poster"}}
    assert wx.post("card/qrcode/create", {"action_name": "QR_CARD", "action_info": info})["errcode"] == 47001


def test_qrcode_failed_scan_not_used_up(wx: Weixin) -> None:
    card_id = create_card(wx, approve=False)
    qr = wx.post("card/qrcode/create", {"action_name": "QR_CARD", "action_info": {"card": {"card_id": card_id, "openid": OPENID}}})
    refused = wx.control("POST", "qrcodes/scan", json={"ticket": qr["ticket"], "openid": OPENID})
    assert refused.json()["errcode"] == 40078

    wx.post("card/testwhitelist/set", {"openid": [OPENID]})
    scanned = wx.control("POST", "qrcodes/scan", json={"ticket": qr["ticket"], "openid": OPENID})
    assert scanned.status_code == 200, scanned.text
    again = wx.control("POST", "qrcodes/scan", json={"ticket": qr["ticket"], "openid": OPENID})
    assert again.json()["errcode"] == 40053


def test_qrcode_openid_limits_receiver(wx: Weixin) -> None:
    card_id = create_card(wx)
    qr = wx.post("card/qrcode/create", {"action_name": "QR_CARD", "action_info": {"card": {"card_id": card_id, "openid": OPENID}}})
    stranger = wx.control("POST", "qrcodes/scan", json={"ticket": qr["ticket"], "openid": OTHER_OPENID})
    assert stranger.json()["errcode"] == 40003
    owner = wx.control("POST", "qrcodes/scan", json={"ticket": qr["ticket"], "openid": OPENID})
    assert owner.status_code == 200, owner.text


def test_encrypt_code_of_long_custom_code_padded(wx: Weixin) -> None:
    card_id = create_card(wx, groupon(wx.server.state.now(), use_custom_code=True))
    for index in range(5):
        code = f"HOTPOT-2024-{index:08d}"
        assert len(code) == 20
        encrypt_code = issue(wx, card_id, code=code)["encrypt_code"]
        assert "+" in encrypt_code
        assert "/" in encrypt_code
        assert "=" in encrypt_code
        assert base64.b64encode(base64.b64decode(encrypt_code, validate=True)).decode() == encrypt_code
        assert wx.post("card/code/decrypt", {"encrypt_code": encrypt_code})["code"] == code


def test_recorded_requests_hide_appsecret(wx: Weixin) -> None:
    wx.http.post("/cgi-bin/stable_token", json={"grant_type": "client_credential", "appid": wx.appid, "secret": wx.secret})
    [token_request] = wx.control("GET", "requests", params={"path": "cgi-bin/token"}).json()
    assert token_request["query"]["secret"] == "REDACTED"
    assert token_request["query"]["appid"] == wx.appid
    [stable_request] = wx.control("GET", "requests", params={"path": "cgi-bin/stable_token"}).json()
    assert json.loads(base64.b64decode(stable_request["body_b64"]))["secret"] == "REDACTED"
    assert wx.secret not in json.dumps(wx.control("GET", "requests").json())


def test_fault_control_rejects_bad_values(wx: Weixin) -> None:
    for payload in (
        {"path": "card/get", "http_status": "busy"},
        {"path": "card/get", "http_status": 200},
        {"path": "card/get", "errcode": "busy"},
    ):
        response = wx.control("POST", "faults", json=payload)
        assert response.status_code == 400, payload
    assert wx.get("card/getcolors")["errcode"] == 0


def test_trailing_newline_not_valid(wx: Weixin) -> None:
    card_id = deposit_card(wx)
    answer = wx.post("card/code/deposit", {"card_id": card_id, "code": ["A1\n"]})
    assert answer["fail_code"] == ["A1\n"]
    assert wx.post("card/testwhitelist/set", {"openid": [OPENID + "\n"]})["errcode"] == 40003
    assert wx.post("card/testwhitelist/set", {"username": ["tianye0327\n"]})["errcode"] == 40132
