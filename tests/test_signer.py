"""The signer against every shared vector and every signing case from public bug reports."""

import hashlib
import json
import re

import pytest

from signer import (
    SigningInputError,
    build_card_ext,
    card_ext_signature,
    choose_card_signature,
    config_signature,
    make_nonce,
    push_signature,
    signed_url,
)
from signer.card import CARD_EXT_KEYS
from signer.push import signatures_match
from signer.secure import PushCrypto, SecureModeError
from tests.shared_material import cases, vectors

SIGNATURES = vectors("signatures")


@pytest.mark.parametrize("vector", SIGNATURES["jssdk_config"], ids=lambda v: v["source"])
def test_config_signature_vector(vector):
    page_url = vector.get("page_url", vector["url"])
    assert signed_url(page_url) == vector["url"]
    assert config_signature(vector["jsapi_ticket"], vector["noncestr"], vector["timestamp"], page_url) == vector["signature"]


@pytest.mark.parametrize("vector", SIGNATURES["card_ext"], ids=lambda v: v["source"])
def test_card_ext_signature_vector(vector):
    signature = card_ext_signature(
        vector["api_ticket"], vector["card_id"], vector["timestamp"], vector["nonce_str"], vector["code"], vector["openid"]
    )
    assert signature == vector["signature"]


@pytest.mark.parametrize("vector", SIGNATURES["choose_card"], ids=lambda v: v["source"])
def test_choose_card_signature_vector(vector):
    signature = choose_card_signature(
        vector["api_ticket"],
        vector["appid"],
        vector["timestamp"],
        vector["nonce_str"],
        location_id=vector["location_id"],
        card_id=vector["card_id"],
        card_type=vector["card_type"],
    )
    assert signature == vector["signature"]


@pytest.mark.parametrize("vector", SIGNATURES["push_signature"], ids=lambda v: v["source"])
def test_push_signature_vector(vector):
    assert push_signature(vector["token"], vector["timestamp"], vector["nonce"]) == vector["signature"]
    assert signatures_match(vector["signature"], vector["signature"].upper())
    assert not signatures_match(vector["signature"], "0" * 40)


@pytest.mark.parametrize("vector", vectors("secure_mode"), ids=lambda v: v["source"])
def test_secure_mode_vector(vector):
    crypto = PushCrypto(vector["encoding_aes_key"], vector["appid"])
    assert crypto.decrypt(vector["encrypt"]) == vector["message"]
    assert crypto.encrypt(vector["message"], vector["random"].encode("ascii")) == vector["encrypt"]
    msg_signature = push_signature(vector["token"], vector["timestamp"], vector["nonce"], vector["encrypt"])
    assert msg_signature == vector["msg_signature"]


def test_secure_mode_rejects_other_appid():
    vector = vectors("secure_mode")[0]
    crypto = PushCrypto(vector["encoding_aes_key"], "wx0000000000000000")
    with pytest.raises(SecureModeError) as raised:
        crypto.decrypt(vector["encrypt"])
    assert raised.value.code == -40005


def test_secure_mode_rejects_bad_key_and_base64():
    with pytest.raises(SecureModeError):
        PushCrypto("short", "wxb11529c136998cb6")
    crypto = PushCrypto("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxb11529c136998cb6")
    with pytest.raises(SecureModeError):
        crypto.decrypt("not base64 !!")
    with pytest.raises(SecureModeError):
        crypto.decrypt("QUJD")


@pytest.mark.parametrize("case", cases("jssdk-url"), ids=lambda c: c["id"])
def test_jssdk_url_case(case):
    given, expect = case["given"], case["expect"]
    page_url = given.get("page_url") or given["browser_url"]
    signature = config_signature(given["jsapi_ticket"], given["noncestr"], given["timestamp"], page_url)
    assert signature == expect["signature"]
    if "signed_url" in expect:
        assert signed_url(page_url) == expect["signed_url"]
    for key, wrong in expect.items():
        if key.startswith("wrong"):
            assert signature != wrong


def _independent_card_sha1(*values: str) -> str:
    return hashlib.sha1("".join(sorted(values)).encode()).hexdigest()


@pytest.mark.parametrize("case", [c for c in cases("card-ext") if "signature" in c["expect"]], ids=lambda c: c["id"])
def test_card_ext_case(case):
    given, expect = case["given"], case["expect"]
    code = given.get("code") or None
    openid = given.get("openid") or None
    signature = card_ext_signature(given["api_ticket"], given["card_id"], given["timestamp"], given["nonce_str"], code, openid)
    assert signature == expect["signature"]
    assert signature == _independent_card_sha1(given["api_ticket"], given["card_id"], given["timestamp"], given["nonce_str"])

    card_ext = json.loads(
        build_card_ext(given["api_ticket"], given["card_id"], given["timestamp"], given["nonce_str"], outer_str=given.get("outer_str")).card_ext
    )
    assert card_ext["signature"] == expect["signature"]
    for key in expect.get("card_ext_must_contain", []):
        assert key in card_ext
    if "outer_str" in given:
        assert card_ext["outer_str"] == given["outer_str"]


def test_card_ext_shape_rules():
    rule_case = next(c for c in cases("card-ext") if c["id"] == "C10")
    assert "timestamp is whole seconds" in rule_case["expect"]["rule"]

    entry = build_card_ext("ticket", "pCARD", "1700000000", "Ab3dEf9h", code="012345", openid="oUSER", outer_str="渠道_1")
    text = entry.card_ext
    data = json.loads(text)
    assert list(data) == [k for k in CARD_EXT_KEYS if k in data]
    assert set(data) == {"code", "openid", "timestamp", "nonce_str", "outer_str", "signature"}
    assert data["code"] == "012345"
    assert data["timestamp"] == "1700000000"
    assert "渠道_1" in text
    assert entry.as_js() == {"cardId": "pCARD", "cardExt": text}

    with pytest.raises(SigningInputError):
        build_card_ext("ticket", "pCARD", "1700000000123", "nonce")
    for bad in rule_case["given"]["bad_card_ext"]:
        try:
            parsed = json.loads(bad)
        except json.JSONDecodeError:
            continue
        assert set(parsed) - set(CARD_EXT_KEYS) or len(parsed["timestamp"]) > 10


@pytest.mark.parametrize("bad", [None, 1700000000, 9, b"bytes"])
def test_non_str_rejected_before_signing(bad):
    with pytest.raises(SigningInputError):
        card_ext_signature("ticket", "pCARD", bad, "nonce")
    with pytest.raises(SigningInputError):
        config_signature("ticket", "nonce", bad, "https://h5.example.com/")


def test_absent_values_sign_as_empty():
    with_none = card_ext_signature("ticket", "pCARD", "1700000000", "n", None, None)
    with_empty = card_ext_signature("ticket", "pCARD", "1700000000", "n", "", "")
    assert with_none == with_empty


def test_nonce_is_random_and_bounded():
    nonces = {make_nonce() for _ in range(100)}
    assert len(nonces) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9]{16}", n) for n in nonces)
    with pytest.raises(ValueError):
        make_nonce(33)
