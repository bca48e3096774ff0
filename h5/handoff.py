"""Hand-over tokens: how a verified coupon travels from the redirect handler to the merchant.

A token carries card_id, code, openid, outer_str and status. The JSON payload is first
encrypted with Fernet (AES-128-CBC with HMAC-SHA256), so reading the URL reveals nothing,
and then timestamped and signed with itsdangerous, which enforces the maximum age.
Both keys are derived from ``WXCARD_SECRET_KEY``, so the merchant's Python backend can
call ``verify`` with that key alone, without access to our store.

A token stays valid until it expires, however often it is read. Consuming the code is
what ends a coupon, and ``card/code/consume`` rejects a repeat with errcode 40099 "already consumed".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from itsdangerous import BadSignature, SignatureExpired, TimedSerializer, TimestampSigner

SECRET_KEY_ENV = "WXCARD_SECRET_KEY"
DEFAULT_MAX_AGE = 600
MIN_SECRET_KEY_LENGTH = 16

# The name of the single query parameter that carries the token to the merchant's page.
TOKEN_PARAMETER = "handoff"

# The shapes of the code and card_id a hand-over carries. Every code API takes the code as
# string(20), so anything else from card/code/decrypt is garbage for a mangled input.
CODE_PATTERN = re.compile(r"[\x21-\x7e]{1,20}")
CARD_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")

_SIGNING_SALT = "wxcard.handoff.v1"
_ENCRYPTION_INFO = b"wxcard handoff encryption v1"
_FIELDS = ("card_id", "code", "openid", "outer_str", "status")


class HandoffError(ValueError):
    """A hand-over token was rejected, or cannot be issued or checked with the given key."""


class HandoffExpired(HandoffError):
    """The token's signature is valid but it is older than the maximum age."""


class HandoffInvalid(HandoffError):
    """The token was tampered with, truncated, or made with another secret key."""


@dataclass(frozen=True)
class Handoff:
    """A verified coupon: its card, real code, owner, scan source and status when issued."""

    card_id: str
    code: str
    openid: str
    outer_str: str
    status: str
    issued_at: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def __repr__(self) -> str:
        # The code is a bearer secret at the till, so it stays out of reprs and logs.
        return f"Handoff(card_id={self.card_id!r}, code='***', status={self.status!r}, issued_at={self.issued_at})"


class _FernetJSON:
    """An itsdangerous serializer that encrypts the JSON payload with Fernet."""

    def __init__(self, fernet: Fernet) -> None:
        self._fernet = fernet

    def dumps(self, obj: Any) -> str:
        return self._fernet.encrypt(json.dumps(obj, separators=(",", ":")).encode("utf-8")).decode("ascii")

    def loads(self, data: str | bytes) -> Any:
        if isinstance(data, str):
            data = data.encode("ascii")
        return json.loads(self._fernet.decrypt(data))


class _IssuingSigner(TimestampSigner):
    """A timestamp signer that can sign with a given issue time instead of the current one."""

    def __init__(self, *args: Any, issued_at: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._issued_at = issued_at

    def get_timestamp(self) -> int:
        return int(time.time()) if self._issued_at is None else self._issued_at


def _secret_key(secret_key: str | None) -> str:
    key = os.environ.get(SECRET_KEY_ENV, "") if secret_key is None else secret_key
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise HandoffError(
            f"{SECRET_KEY_ENV}: must be a random string of at least {MIN_SECRET_KEY_LENGTH} characters "
            f"(got {len(key)}); use the same value as the wxcard backend"
        )
    return key


def _fernet_key(secret_key: str) -> bytes:
    # An HMAC of a fixed label gives an encryption key separate from the signing key.
    digest = hmac.new(secret_key.encode("utf-8"), _ENCRYPTION_INFO, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest)


def _serializer(secret_key: str | None, issued_at: int | None = None) -> TimedSerializer:
    key = _secret_key(secret_key)
    return TimedSerializer(
        key,
        salt=_SIGNING_SALT,
        serializer=_FernetJSON(Fernet(_fernet_key(key))),
        signer=_IssuingSigner,
        signer_kwargs={"issued_at": issued_at},
    )


def issue(
    card_id: str,
    code: str,
    openid: str,
    outer_str: str = "",
    status: str = "NORMAL",
    *,
    secret_key: str | None = None,
    issued_at: int | None = None,
) -> str:
    """Return a URL-safe hand-over token.

    ``secret_key`` defaults to ``WXCARD_SECRET_KEY``. ``issued_at`` (Unix seconds, default
    now) lets a merchant's test make a token that is already expired.
    """
    payload = {"card_id": card_id, "code": code, "openid": openid, "outer_str": outer_str, "status": status}
    return _serializer(secret_key, issued_at).dumps(payload)


def verify(token: str, *, secret_key: str | None = None, max_age: int | None = None) -> Handoff:
    """Return the hand-over in ``token`` after checking its signature and age.

    ``secret_key`` defaults to the ``WXCARD_SECRET_KEY`` environment variable and
    ``max_age`` (seconds) to 600. Raises ``HandoffExpired`` for an old token and
    ``HandoffInvalid`` for one that was altered or made with another key.
    """
    serializer = _serializer(secret_key)
    max_age = DEFAULT_MAX_AGE if max_age is None else max_age
    if not isinstance(token, str) or not token:
        raise HandoffInvalid("the hand-over token is missing or not a string")

    try:
        payload, signed_at = serializer.loads(token, max_age=max_age, return_timestamp=True)
    except SignatureExpired as exc:
        age = int(time.time() - exc.date_signed.timestamp()) if exc.date_signed else None
        raise HandoffExpired(
            f"the hand-over token expired: issued {age} s ago, max age {max_age} s; open the coupon in Weixin again"
        ) from None
    except (BadSignature, InvalidToken, ValueError, UnicodeError):
        # Fernet, base64 and JSON errors mean the same as a bad signature: not our token.
        raise HandoffInvalid("the hand-over token is invalid: altered, truncated or signed with another key") from None

    if not isinstance(payload, dict) or not all(isinstance(payload.get(name), str) for name in _FIELDS):
        raise HandoffInvalid("the hand-over token has an unexpected payload; issue it with h5.handoff.issue")
    return Handoff(**{name: payload[name] for name in _FIELDS}, issued_at=int(signed_at.timestamp()))
