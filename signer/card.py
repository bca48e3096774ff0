"""card_ext for ``wx.addCard`` and cardSign for ``wx.chooseCard``.

Both sign the *values* of their fields, sorted as strings (bytewise), concatenated with
no separator and hashed with sha1. Absent values count as empty strings, so they add
nothing to the concatenation.
"""

import hashlib
import json
from dataclasses import dataclass

from signer.errors import SigningInputError, optional_text, require_text

# card_ext carries these keys and no others, in this order when present.
CARD_EXT_KEYS = ("code", "openid", "timestamp", "nonce_str", "fixed_begintimestamp", "outer_str", "signature")


def _sha1_of_sorted_values(values: list[str]) -> str:
    return hashlib.sha1("".join(sorted(values)).encode("utf-8")).hexdigest()


def _require_whole_seconds(field: str, timestamp: str) -> None:
    # A millisecond timestamp (13 digits) signs fine but Weixin rejects the card_ext.
    if not timestamp.isdigit() or len(timestamp) > 10:
        raise SigningInputError(field, timestamp, f"must be whole Unix seconds as digits, not {timestamp!r}")


def card_ext_signature(
    api_ticket: str,
    card_id: str,
    timestamp: str,
    nonce_str: str | None = None,
    code: str | None = None,
    openid: str | None = None,
) -> str:
    """Return the card_ext ``signature`` over api_ticket, timestamp, card_id, code, openid, nonce_str.

    ``outer_str`` and ``fixed_begintimestamp`` are never signed.
    """
    values = [
        require_text("api_ticket", api_ticket),
        require_text("timestamp", timestamp),
        require_text("card_id", card_id),
        optional_text("code", code),
        optional_text("openid", openid),
        optional_text("nonce_str", nonce_str),
    ]
    return _sha1_of_sorted_values(values)


@dataclass(frozen=True)
class CardExt:
    """One entry of the ``cardList`` argument of ``wx.addCard``.

    ``card_ext`` is the JSON string Weixin expects, not a dict.
    """

    card_id: str
    card_ext: str

    def as_js(self) -> dict[str, str]:
        """Return the entry with the JS-SDK's key names, ``cardId`` and ``cardExt``."""
        return {"cardId": self.card_id, "cardExt": self.card_ext}


def build_card_ext(
    api_ticket: str,
    card_id: str,
    timestamp: str,
    nonce_str: str,
    code: str | None = None,
    openid: str | None = None,
    fixed_begintimestamp: str | None = None,
    outer_str: str | None = None,
) -> CardExt:
    """Sign and serialise a card_ext.

    The JSON keeps non-ASCII characters and carries ``timestamp``, ``nonce_str`` and
    ``signature`` always, and ``code``, ``openid``, ``fixed_begintimestamp`` and
    ``outer_str`` only when given.
    """
    _require_whole_seconds("timestamp", require_text("timestamp", timestamp))
    require_text("nonce_str", nonce_str)
    if fixed_begintimestamp is not None:
        _require_whole_seconds("fixed_begintimestamp", require_text("fixed_begintimestamp", fixed_begintimestamp))
    if outer_str is not None:
        require_text("outer_str", outer_str)

    signature = card_ext_signature(api_ticket, card_id, timestamp, nonce_str, code, openid)
    fields = {
        "code": code or None,
        "openid": openid or None,
        "timestamp": timestamp,
        "nonce_str": nonce_str,
        "fixed_begintimestamp": fixed_begintimestamp,
        "outer_str": outer_str,
        "signature": signature,
    }
    present = {key: fields[key] for key in CARD_EXT_KEYS if fields[key] is not None}
    return CardExt(card_id=card_id, card_ext=json.dumps(present, ensure_ascii=False, separators=(",", ":")))


def choose_card_signature(
    api_ticket: str,
    appid: str,
    timestamp: str,
    nonce_str: str,
    location_id: str | None = None,
    card_id: str | None = None,
    card_type: str | None = None,
) -> str:
    """Return the ``cardSign`` for ``wx.chooseCard``.

    It signs api_ticket, appid, location_id, timestamp, nonce_str, card_id and card_type.
    The appid must take part, or Weixin returns an empty card list.
    """
    values = [
        require_text("api_ticket", api_ticket),
        require_text("appid", appid),
        optional_text("location_id", location_id),
        require_text("timestamp", timestamp),
        require_text("nonce_str", nonce_str),
        optional_text("card_id", card_id),
        optional_text("card_type", card_type),
    ]
    return _sha1_of_sorted_values(values)
