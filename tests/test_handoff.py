"""Hand-over tokens: round trip, secrecy of the code, expiry, tampering and the key setting."""

from __future__ import annotations

import time

import pytest

from h5 import handoff

KEY = "test-secret-key-0123456789abcdef"
CODE = "739218460512"


def make_token(**overrides: object) -> str:
    fields = {"card_id": "pCARD_1", "code": CODE, "openid": "oUSER_abcdefgh", "outer_str": "poster", "secret_key": KEY}
    fields.update(overrides)
    return handoff.issue(**fields)  # type: ignore[arg-type]


def test_round_trip_returns_fields() -> None:
    result = handoff.verify(make_token(), secret_key=KEY)
    assert result.card_id == "pCARD_1"
    assert result.code == CODE
    assert result.openid == "oUSER_abcdefgh"
    assert result.outer_str == "poster"
    assert result.status == "NORMAL"
    assert abs(result.issued_at - time.time()) < 120


def test_token_hides_code_and_openid() -> None:
    token = make_token()
    assert CODE not in token
    assert "oUSER_abcdefgh" not in token
    assert CODE not in repr(handoff.verify(token, secret_key=KEY))


def test_expired_token_rejected() -> None:
    token = make_token(issued_at=int(time.time()) - 601)
    with pytest.raises(handoff.HandoffExpired):
        handoff.verify(token, secret_key=KEY)
    assert handoff.verify(token, secret_key=KEY, max_age=3600).code == CODE


def test_future_token_rejected() -> None:
    token = make_token(issued_at=int(time.time()) + 3600)
    with pytest.raises(handoff.HandoffError):
        handoff.verify(token, secret_key=KEY)


def test_tampered_token_rejected() -> None:
    token = make_token()
    payload, timestamp, signature = token.rsplit(".", 2)
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    variants = [
        f"{flipped}.{timestamp}.{signature}",
        f"{payload}.{timestamp}.{signature[:-1]}",
        token[:-20],
        "not-a-token",
    ]
    for variant in variants:
        with pytest.raises(handoff.HandoffInvalid):
            handoff.verify(variant, secret_key=KEY)


def test_other_key_rejected() -> None:
    with pytest.raises(handoff.HandoffInvalid):
        handoff.verify(make_token(), secret_key="another-secret-key-0123456789")


def test_key_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXCARD_SECRET_KEY", KEY)
    assert handoff.verify(make_token()).code == CODE
    assert handoff.verify(handoff.issue("pCARD_1", CODE, "oUSER_abcdefgh"), secret_key=KEY).code == CODE


def test_short_key_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WXCARD_SECRET_KEY", raising=False)
    with pytest.raises(handoff.HandoffError, match="WXCARD_SECRET_KEY"):
        handoff.verify(make_token())
    with pytest.raises(handoff.HandoffError, match="WXCARD_SECRET_KEY"):
        handoff.issue("pCARD_1", CODE, "oUSER_abcdefgh", secret_key="short")
