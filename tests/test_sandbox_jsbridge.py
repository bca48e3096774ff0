"""The sandbox's wx.config check, POST /sandbox/client/pre-verify, over a real socket."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.sandbox.jsbridge import expected_config_signature
from h5.sandbox.server import SandboxServer
from tests.shared_material import vectors

PAGE_URL = "http://127.0.0.1:8000/cards/hotpot?outer_str=ch_moments"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def jsapi_ticket(base: str) -> str:
    token = httpx.get(
        f"{base}/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": DEFAULT_APPID, "secret": DEFAULT_SECRET},
    ).json()["access_token"]
    return httpx.get(f"{base}/cgi-bin/ticket/getticket", params={"access_token": token, "type": "jsapi"}).json()["ticket"]


def sign(ticket: str, nonce: str, timestamp: str, url: str) -> str:
    text = f"jsapi_ticket={ticket}&noncestr={nonce}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(text.encode()).hexdigest()


def pre_verify(base: str, **fields: str) -> str:
    body = {"appid": DEFAULT_APPID, "url": PAGE_URL, "timestamp": "1414587457", "nonceStr": "Wm3WZYTPz0wzccnW", **fields}
    response = httpx.post(f"{base}/sandbox/client/pre-verify", json=body)
    assert response.status_code == 200, response.text
    return response.json()["err_msg"]


def test_expected_signature_matches_official_example() -> None:
    ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    signature = expected_config_signature(ticket, "Wm3WZYTPz0wzccnW", "1414587457", "http://mp.weixin.qq.com?params=value")
    assert signature == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


@pytest.mark.parametrize("vector", vectors("signatures")["jssdk_config"], ids=lambda vector: vector["source"][:40])
def test_expected_signature_on_vectors(vector: dict) -> None:
    # page_url, where given, is the URL the web view shows, with its fragment.
    url = vector.get("page_url", vector["url"])
    assert expected_config_signature(vector["jsapi_ticket"], vector["noncestr"], vector["timestamp"], url) == vector["signature"]


def test_pre_verify_accepts_valid_signature(sandbox: SandboxServer) -> None:
    ticket = jsapi_ticket(sandbox.base_url)
    signature = sign(ticket, "Wm3WZYTPz0wzccnW", "1414587457", PAGE_URL)
    assert pre_verify(sandbox.base_url, signature=signature) == "pre_verify_jsapi:ok"


def test_pre_verify_cuts_fragment(sandbox: SandboxServer) -> None:
    ticket = jsapi_ticket(sandbox.base_url)
    signature = sign(ticket, "Wm3WZYTPz0wzccnW", "1414587457", PAGE_URL)
    assert pre_verify(sandbox.base_url, signature=signature, url=PAGE_URL + "#/detail") == "pre_verify_jsapi:ok"


def test_pre_verify_rejects_other_url(sandbox: SandboxServer) -> None:
    ticket = jsapi_ticket(sandbox.base_url)
    signature = sign(ticket, "Wm3WZYTPz0wzccnW", "1414587457", PAGE_URL)
    other = PAGE_URL + "&from=singlemessage"
    assert pre_verify(sandbox.base_url, signature=signature, url=other) == "pre_verify_jsapi:fail_invalid signature"


def test_pre_verify_rejects_percent_encoded_url(sandbox: SandboxServer) -> None:
    ticket = jsapi_ticket(sandbox.base_url)
    encoded = "http%3A%2F%2F127.0.0.1%3A8000%2Fcards%2Fhotpot%3Fouter_str%3Dch_moments"
    signature = sign(ticket, "Wm3WZYTPz0wzccnW", "1414587457", encoded)
    assert pre_verify(sandbox.base_url, signature=signature) == "pre_verify_jsapi:fail_invalid signature"


def test_pre_verify_rejects_changed_timestamp(sandbox: SandboxServer) -> None:
    ticket = jsapi_ticket(sandbox.base_url)
    signature = sign(ticket, "Wm3WZYTPz0wzccnW", "1414587457", PAGE_URL)
    assert pre_verify(sandbox.base_url, signature=signature, timestamp="1414587458") == "pre_verify_jsapi:fail_invalid signature"


def test_pre_verify_without_issued_ticket(sandbox: SandboxServer) -> None:
    signature = sign("no-ticket", "Wm3WZYTPz0wzccnW", "1414587457", PAGE_URL)
    assert pre_verify(sandbox.base_url, signature=signature) == "pre_verify_jsapi:fail_invalid signature"


def test_pre_verify_unknown_appid(sandbox: SandboxServer) -> None:
    ticket = jsapi_ticket(sandbox.base_url)
    signature = sign(ticket, "Wm3WZYTPz0wzccnW", "1414587457", PAGE_URL)
    assert pre_verify(sandbox.base_url, signature=signature, appid="wx0000000000000000") == "pre_verify_jsapi:fail_invalid appid"


def test_pre_verify_rejects_non_object_body(sandbox: SandboxServer) -> None:
    response = httpx.post(f"{sandbox.base_url}/sandbox/client/pre-verify", json=["not", "an", "object"])
    assert response.status_code == 400
    assert "appid" in response.json()["error"]


def test_pre_verify_rejects_non_ascii_signature(sandbox: SandboxServer) -> None:
    jsapi_ticket(sandbox.base_url)
    assert pre_verify(sandbox.base_url, signature="签名") == "pre_verify_jsapi:fail_invalid signature"
