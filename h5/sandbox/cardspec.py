"""Validate a ``card/create`` body the way Weixin documents it.

Weixin checks string limits in UTF-8 bytes: ``string(27)`` for a title is 9 Chinese
characters of 3 bytes each.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from h5.sandbox.errors import SandboxError, data_format, missing, too_long

CARD_TYPES = {
    "GROUPON", "CASH", "DISCOUNT", "GIFT", "GENERAL_COUPON", "MEMBER_CARD",
    "SCENIC_TICKET", "MOVIE_TICKET", "BOARDING_PASS", "MEETING_TICKET", "BUS_TICKET",
    "GENERAL_CARD",
}

CODE_TYPES = {
    "CODE_TYPE_TEXT", "CODE_TYPE_BARCODE", "CODE_TYPE_QRCODE",
    "CODE_TYPE_ONLY_QRCODE", "CODE_TYPE_ONLY_BARCODE", "CODE_TYPE_NONE",
}

# Colour names and the hex values card/getcolors returned in 2016; card/get shows the hex.
COLORS = {
    "Color010": "#63b359", "Color020": "#2c9f67", "Color030": "#509fc9", "Color040": "#5885cf",
    "Color050": "#9062c0", "Color060": "#d09a45", "Color070": "#e4b138", "Color080": "#ee903c",
    "Color081": "#f08500", "Color082": "#a9d92d", "Color090": "#dd6549", "Color100": "#cc463d",
    "Color101": "#cf3e36", "Color102": "#5E6671",
}

REQUIRED_BASE_FIELDS = (
    "logo_url", "code_type", "brand_name", "title", "color", "notice", "description", "sku", "date_info",
)

# Byte limits of base_info strings, from the documented string(N) types.
BYTE_LIMITS = {
    "logo_url": 128, "code_type": 16, "brand_name": 36, "title": 27, "color": 16, "notice": 48,
    "description": 3072, "sub_title": 54, "service_phone": 24, "source": 36,
    "center_title": 18, "center_sub_title": 24, "center_url": 128,
    "custom_url_name": 15, "custom_url": 128, "custom_url_sub_title": 18,
    "promotion_url_name": 15, "promotion_url": 128, "promotion_url_sub_title": 18,
}

# Type-specific fields that must be present, per card_type.
REQUIRED_SPECIFIC_FIELDS = {
    "GROUPON": ("deal_detail",),
    "CASH": ("reduce_cost",),
    "DISCOUNT": ("discount",),
    "GIFT": ("gift",),
    "GENERAL_COUPON": ("default_detail",),
    "MEMBER_CARD": ("prerogative", "supply_bonus", "supply_balance"),
}

MAX_QUANTITY = 100_000_000
DEFAULT_GET_LIMIT = 50
DEFAULT_USE_LIMIT = 50
DEPOSIT_MODE = "GET_CUSTOM_CODE_MODE_DEPOSIT"
CDN_LOGO_PREFIXES = ("http://mmbiz.qpic.cn/", "https://mmbiz.qpic.cn/")
# openids are string(32) in Weixin's tables (the documented samples have 28 characters).
# Use fullmatch: with match, "$" would also accept a trailing newline.
OPENID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")

_FIX_TIME_RANGE = {"DATE_TYPE_FIX_TIME_RANGE", 1, "1"}
_FIX_TERM = {"DATE_TYPE_FIX_TERM", 2, "2"}
_PERMANENT = {"DATE_TYPE_PERMANENT"}


def _field(path: str) -> str:
    """Return the field name in Weixin's style: ``m_data.base_info().title``."""
    *parents, leaf = path.split(".")
    return "m_data." + "".join(f"{parent}()." for parent in parents) + leaf


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_int(container: dict[str, Any], key: str, path: str) -> int:
    if key not in container:
        raise missing(_field(path))
    value = container[key]
    if not _is_int(value):
        raise data_format(f"{path} must be an integer, got {value!r}")
    return value


def validate_card(
    body: Any, now: float, logo_url_ok: Callable[[str], bool]
) -> tuple[str, dict[str, Any]]:
    """Check a card/create body and return ``(card_type, inner object)``.

    ``logo_url_ok`` returns whether a logo URL was issued by uploadimg. Raises
    ``SandboxError`` with the errcode Weixin documents for the first problem found.
    """
    if not isinstance(body, dict) or not isinstance(body.get("card"), dict):
        raise missing("m_data.card")
    card = body["card"]

    card_type = card.get("card_type")
    if card_type is None:
        raise missing("m_data.card_type")
    if not isinstance(card_type, str) or card_type not in CARD_TYPES:
        raise SandboxError(40071, f"invalid card type: {card_type!r}")

    # The inner object's key must be card_type in lower case, e.g. GROUPON -> groupon.
    key = card_type.lower()
    inner = card.get(key)
    if not isinstance(inner, dict):
        raise missing(f"m_data.{key}")
    base = inner.get("base_info")
    if not isinstance(base, dict):
        raise missing("m_data.base_info")

    _check_base_strings(base)
    _check_base_values(base, card_type, logo_url_ok)
    _check_date_info(base["date_info"], card_type, now)
    _check_specific(inner, card_type)
    return card_type, inner


def _check_base_strings(base: dict[str, Any]) -> None:
    for name in REQUIRED_BASE_FIELDS:
        if name not in base or base[name] is None or base[name] == "":
            raise missing(_field(f"base_info.{name}"))

    for name, limit in BYTE_LIMITS.items():
        if name not in base:
            continue
        value = base[name]
        if not isinstance(value, str):
            raise data_format(f"base_info.{name} must be a string, got {type(value).__name__}")
        size = len(value.encode("utf-8"))
        if size > limit:
            raise too_long(_field(f"base_info.{name}"), size, limit)


def _check_base_values(base: dict[str, Any], card_type: str, logo_url_ok: Callable[[str], bool]) -> None:
    if base["code_type"] not in CODE_TYPES:
        raise SandboxError(40072, f"invalid code type: {base['code_type']!r}")

    # NOTE: Weixin's errcode for an unknown colour name is not documented; 40097 (invalid args) is a guess.
    if base["color"] not in COLORS:
        raise SandboxError(40097, f"invalid args: color {base['color']!r} is not one of Color010..Color102")

    # NOTE: Weixin rejects logo URLs outside its CDN; the errcode is not documented, 40097 is a guess.
    logo_url = base["logo_url"]
    if not (logo_url.startswith(CDN_LOGO_PREFIXES) or logo_url_ok(logo_url)):
        raise SandboxError(40097, "invalid args: logo_url must be a URL returned by cgi-bin/media/uploadimg")

    sku = base["sku"]
    if not isinstance(sku, dict):
        raise data_format("base_info.sku must be an object")
    quantity = _require_int(sku, "quantity", "base_info.sku.quantity")
    if not 0 <= quantity <= MAX_QUANTITY:
        raise SandboxError(40122, f"invalid quantity {quantity}: stock must be 0..{MAX_QUANTITY}")
    if base.get("get_custom_code_mode") == DEPOSIT_MODE and quantity != 0:
        raise SandboxError(40122, f"invalid quantity {quantity}: {DEPOSIT_MODE} cards start with sku.quantity 0")
    if "get_custom_code_mode" in base and base["get_custom_code_mode"] != DEPOSIT_MODE:
        raise SandboxError(40097, f"invalid args: get_custom_code_mode {base['get_custom_code_mode']!r}")

    for name in ("get_limit", "use_limit"):
        if name in base and (not _is_int(base[name]) or base[name] < 1):
            raise SandboxError(40097, f"invalid args: {name} must be a positive integer, got {base[name]!r}")
    for name in ("use_custom_code", "bind_openid", "can_share", "can_give_friend", "need_push_on_view"):
        if name in base and not isinstance(base[name], bool):
            raise data_format(f"base_info.{name} must be true or false, got {base[name]!r}")


def _check_date_info(date_info: Any, card_type: str, now: float) -> None:
    if not isinstance(date_info, dict):
        raise data_format("base_info.date_info must be an object")
    if "type" not in date_info:
        raise missing(_field("base_info.date_info.type"))
    date_type = date_info["type"]
    # A list or object here would not even be hashable, so only text and integers go on.
    if not isinstance(date_type, (str, int)) or isinstance(date_type, bool):
        raise SandboxError(40079, f"invalid time: unknown date_info.type {date_type!r}")

    if date_type in _FIX_TIME_RANGE:
        begin = _require_int(date_info, "begin_timestamp", "base_info.date_info.begin_timestamp")
        end = _require_int(date_info, "end_timestamp", "base_info.date_info.end_timestamp")
        if end <= now:
            raise SandboxError(40079, f"invalid time: end_timestamp {end} is not after now ({int(now)})")
        if begin >= end:
            raise SandboxError(40100, f"invalid time range: begin_timestamp {begin} is not before end_timestamp {end}")
    elif date_type in _FIX_TERM:
        # NOTE: older docs allowed fixed_term 0 (valid on the day of receipt); the newer doc rejects 0.
        term = _require_int(date_info, "fixed_term", "base_info.date_info.fixed_term")
        if term < 1:
            raise SandboxError(40079, f"invalid time: fixed_term must be at least 1 day, got {term}")
        begin_term = date_info.get("fixed_begin_term", 0)
        if not _is_int(begin_term) or begin_term < 0:
            raise SandboxError(40079, f"invalid time: fixed_begin_term must be 0 or more days, got {begin_term!r}")
    elif date_type in _PERMANENT:
        if card_type != "MEMBER_CARD":
            raise SandboxError(40079, f"invalid time: DATE_TYPE_PERMANENT is for MEMBER_CARD only, not {card_type}")
    else:
        raise SandboxError(40079, f"invalid time: unknown date_info.type {date_type!r}")


def _check_specific(inner: dict[str, Any], card_type: str) -> None:
    for name in REQUIRED_SPECIFIC_FIELDS.get(card_type, ()):
        if name not in inner or inner[name] is None or inner[name] == "":
            raise missing(f"m_data.{name}")

    if card_type == "CASH":
        for name in ("least_cost", "reduce_cost"):
            if name in inner and (not _is_int(inner[name]) or inner[name] < 0):
                raise SandboxError(40097, f"invalid args: {name} must be fen as an integer >= 0, got {inner[name]!r}")
    if card_type == "DISCOUNT" and (not _is_int(inner["discount"]) or not 1 <= inner["discount"] <= 99):
        raise SandboxError(40097, f"invalid args: discount must be a percentage 1..99, got {inner['discount']!r}")


def date_window(date_info: dict[str, Any], received_at: float) -> tuple[int, int]:
    """Return ``(begin_time, end_time)`` of a code received at ``received_at``; 0 means open-ended."""
    date_type = date_info["type"]
    if date_type in _FIX_TIME_RANGE:
        return int(date_info["begin_timestamp"]), int(date_info["end_timestamp"])
    if date_type in _FIX_TERM:
        # Terms count whole days from the day of receipt, in Beijing time (UTC+8).
        day_start = int((received_at + 8 * 3600) // 86400 * 86400 - 8 * 3600)
        begin = day_start + 86400 * int(date_info.get("fixed_begin_term", 0))
        return begin, begin + 86400 * int(date_info["fixed_term"]) - 1
    return int(received_at), 0


LOGO_PATH = re.compile(r"^https?://[^/]+/mmbiz/([A-Za-z0-9_-]+)/0$")
