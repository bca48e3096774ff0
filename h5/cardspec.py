"""Local checks of a ``card/create`` card object, before anything is sent to Weixin.

``validate_card`` returns every problem at once, each naming the field path (such as
``card.groupon.base_info.title``) and the limit it breaks, in English and Chinese.
Length limits are bytes of UTF-8, as Weixin counts them: ``string(27)`` fits 9 Chinese
characters. Weixin itself returns 41011 for a missing field and 45021 for a long one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CARD_TYPES = (
    "GROUPON",
    "CASH",
    "DISCOUNT",
    "GIFT",
    "GENERAL_COUPON",
    "MEMBER_CARD",
    "SCENIC_TICKET",
    "MOVIE_TICKET",
    "BOARDING_PASS",
    "MEETING_TICKET",
    "BUS_TICKET",
    "GENERAL_CARD",
)

# Colour names accepted by card/create; card/getcolors lists Color101 and Color102 too.
COLORS = (
    "Color010", "Color020", "Color030", "Color040", "Color050", "Color060", "Color070",
    "Color080", "Color081", "Color082", "Color090", "Color100", "Color101", "Color102",
)

CODE_TYPES = (
    "CODE_TYPE_TEXT",
    "CODE_TYPE_BARCODE",
    "CODE_TYPE_QRCODE",
    "CODE_TYPE_ONLY_QRCODE",
    "CODE_TYPE_ONLY_BARCODE",
    "CODE_TYPE_NONE",
)

DATE_TYPES = ("DATE_TYPE_FIX_TIME_RANGE", "DATE_TYPE_FIX_TERM", "DATE_TYPE_PERMANENT")
DEPOSIT_MODE = "GET_CUSTOM_CODE_MODE_DEPOSIT"
MAX_QUANTITY = 100_000_000

REQUIRED_BASE_INFO = ("logo_url", "code_type", "brand_name", "title", "color", "notice", "description", "sku", "date_info")

# Maximum UTF-8 bytes of the string fields of base_info, from the card/create field table.
BYTE_LIMITS = {
    "logo_url": 128,
    "code_type": 16,
    "brand_name": 36,
    "title": 27,
    "color": 16,
    "notice": 48,
    "description": 3072,
    "sub_title": 54,
    "service_phone": 24,
    "source": 36,
    "center_title": 18,
    "center_sub_title": 24,
    "center_url": 128,
    "custom_url_name": 15,
    "custom_url": 128,
    "custom_url_sub_title": 18,
    "promotion_url_name": 15,
    "promotion_url": 128,
    "promotion_url_sub_title": 18,
}

BOOLEAN_FIELDS = ("use_custom_code", "bind_openid", "can_share", "can_give_friend", "use_all_locations", "need_push_on_view")
POSITIVE_INT_FIELDS = ("get_limit", "use_limit")

# The field each card type needs next to base_info.
TYPE_FIELDS = {
    "GROUPON": "deal_detail",
    "CASH": "reduce_cost",
    "DISCOUNT": "discount",
    "GIFT": "gift",
    "GENERAL_COUPON": "default_detail",
}

_TEMPLATES: dict[str, dict[str, str]] = {
    "not_object": {"en": "must be a JSON object", "zh": "必须是 JSON 对象"},
    "missing": {"en": "is required but missing", "zh": "是必填字段，但缺失"},
    "not_string": {"en": "must be a string", "zh": "必须是字符串"},
    "empty": {"en": "must not be empty", "zh": "不能为空"},
    "not_bool": {"en": "must be true or false", "zh": "必须是 true 或 false"},
    "not_int": {"en": "must be a whole number", "zh": "必须是整数"},
    "too_long": {
        "en": "is {size} bytes in UTF-8; the limit is {limit} bytes ({chinese} Chinese characters)",
        "zh": "UTF-8 下为 {size} 字节；上限为 {limit} 字节（{chinese} 个汉字）",
    },
    "unknown_type": {"en": "{value!r} is not a card type; use one of {allowed}", "zh": "{value!r} 不是卡券类型；请使用 {allowed} 之一"},
    "key_mismatch": {
        "en": "card_type {card_type} needs its object under the lower-case key {key!r}, found {found}",
        "zh": "card_type 为 {card_type} 时，卡券内容必须放在小写键 {key!r} 下，实际为 {found}",
    },
    "unknown_color": {"en": "{value!r} is not a colour name; use one of {allowed}", "zh": "{value!r} 不是颜色名；请使用 {allowed} 之一"},
    "unknown_code_type": {"en": "{value!r} is not a code_type; use one of {allowed}", "zh": "{value!r} 不是 code_type；请使用 {allowed} 之一"},
    "unknown_date_type": {"en": "{value!r} is not a date type; use one of {allowed}", "zh": "{value!r} 不是有效期类型；请使用 {allowed} 之一"},
    "out_of_range": {"en": "{value} is out of range; allowed {low} to {high}", "zh": "{value} 超出范围；允许 {low} 到 {high}"},
    "begin_not_past": {
        "en": "{value} ({when}) is not before now ({now}); a card that is not yet valid cannot be redeemed in tests",
        "zh": "{value}（{when}）不早于当前时间（{now}）；尚未生效的卡券无法测试核销",
    },
    "end_not_future": {
        "en": "{value} ({when}) is not after now ({now}); the card would already be expired",
        "zh": "{value}（{when}）不晚于当前时间（{now}）；卡券已过期",
    },
    "end_before_begin": {"en": "must be after begin_timestamp", "zh": "必须晚于 begin_timestamp"},
    "permanent_member_only": {
        "en": "DATE_TYPE_PERMANENT is for MEMBER_CARD only",
        "zh": "DATE_TYPE_PERMANENT 只能用于会员卡 MEMBER_CARD",
    },
    "deposit_needs_custom_code": {
        "en": "GET_CUSTOM_CODE_MODE_DEPOSIT needs use_custom_code true",
        "zh": "GET_CUSTOM_CODE_MODE_DEPOSIT 要求 use_custom_code 为 true",
    },
    "deposit_needs_zero_stock": {
        "en": "must be 0 with GET_CUSTOM_CODE_MODE_DEPOSIT; raise the stock after importing codes",
        "zh": "GET_CUSTOM_CODE_MODE_DEPOSIT 模式下必须为 0；导入 code 后再增加库存",
    },
    "unknown_code_mode": {"en": "{value!r} is not supported; the only value is {allowed}", "zh": "{value!r} 不受支持；唯一取值为 {allowed}"},
    "exclusive": {"en": "cannot be used together with {other}", "zh": "不能与 {other} 同时使用"},
    "zero_stock": {
        "en": "is 0, so nobody can receive the card until the stock is raised",
        "zh": "为 0，在增加库存之前没有人能领取该卡券",
    },
}


@dataclass(frozen=True)
class CardIssue:
    """One problem of a card object: the field path, the rule and the values that broke it."""

    field: str
    rule: str
    values: dict[str, Any]

    def message(self, language: str = "en") -> str:
        return f"{self.field}: " + _TEMPLATES[self.rule][language].format(**self.values)


@dataclass
class CardCheck:
    """The result of ``validate_card``: errors stop the upload, warnings do not."""

    errors: list[CardIssue]
    warnings: list[CardIssue]

    @property
    def ok(self) -> bool:
        return not self.errors


def load_card_file(path: Path) -> dict[str, Any]:
    """Read a card file: either ``{"card": {...}}`` as posted to card/create, or the card object itself.

    Raises ``OSError`` when the file cannot be read and ``ValueError`` when it is not JSON.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("card"), dict):
        return data["card"]
    return data


def validate_card(card: Any, now: float | None = None) -> CardCheck:
    """Check a card object of card/create and return every error and warning found.

    ``now`` (Unix seconds, default the current time) is what ``begin_timestamp`` must
    precede and ``end_timestamp`` must follow.
    """
    check = CardCheck(errors=[], warnings=[])
    now = time.time() if now is None else now
    if not isinstance(card, dict):
        check.errors.append(CardIssue("card", "not_object", {}))
        return check

    card_type = _check_card_type(card, check)
    if card_type is None:
        return check

    key = card_type.lower()
    body = card[key]
    prefix = f"card.{key}"
    base_info = body.get("base_info")
    if not isinstance(base_info, dict):
        rule = "missing" if base_info is None else "not_object"
        check.errors.append(CardIssue(f"{prefix}.base_info", rule, {}))
    else:
        _check_base_info(base_info, card_type, f"{prefix}.base_info", now, check)

    _check_type_field(body, card_type, prefix, check)
    return check


def _check_card_type(card: dict[str, Any], check: CardCheck) -> str | None:
    card_type = card.get("card_type")
    if card_type is None:
        check.errors.append(CardIssue("card.card_type", "missing", {}))
        return None
    if not isinstance(card_type, str):
        check.errors.append(CardIssue("card.card_type", "not_string", {}))
        return None
    if card_type not in CARD_TYPES:
        check.errors.append(CardIssue("card.card_type", "unknown_type", {"value": card_type, "allowed": ", ".join(CARD_TYPES)}))
        return None

    # Weixin reads the card from the key that equals card_type in lower case and ignores any other.
    key = card_type.lower()
    other_keys = [k for k in card if k != "card_type"]
    if not isinstance(card.get(key), dict):
        found = ", ".join(repr(k) for k in other_keys) or "no object"
        check.errors.append(CardIssue(f"card.{key}", "key_mismatch", {"card_type": card_type, "key": key, "found": found}))
        return None
    return card_type


def _check_base_info(base_info: dict[str, Any], card_type: str, prefix: str, now: float, check: CardCheck) -> None:
    for name in REQUIRED_BASE_INFO:
        if name not in base_info:
            check.errors.append(CardIssue(f"{prefix}.{name}", "missing", {}))

    for name, limit in BYTE_LIMITS.items():
        if name in base_info:
            _check_string(base_info[name], f"{prefix}.{name}", limit, check)

    color = base_info.get("color")
    if isinstance(color, str) and color and color not in COLORS:
        check.errors.append(CardIssue(f"{prefix}.color", "unknown_color", {"value": color, "allowed": ", ".join(COLORS)}))
    code_type = base_info.get("code_type")
    if isinstance(code_type, str) and code_type and code_type not in CODE_TYPES:
        check.errors.append(
            CardIssue(f"{prefix}.code_type", "unknown_code_type", {"value": code_type, "allowed": ", ".join(CODE_TYPES)})
        )

    for name in BOOLEAN_FIELDS:
        if name in base_info and not isinstance(base_info[name], bool):
            check.errors.append(CardIssue(f"{prefix}.{name}", "not_bool", {}))
    for name in POSITIVE_INT_FIELDS:
        if name in base_info:
            _check_int(base_info[name], f"{prefix}.{name}", 1, MAX_QUANTITY, check)

    if base_info.get("use_all_locations") is True and base_info.get("location_id_list"):
        check.errors.append(CardIssue(f"{prefix}.use_all_locations", "exclusive", {"other": "location_id_list"}))

    _check_code_mode_and_sku(base_info, prefix, check)
    if "date_info" in base_info:
        _check_date_info(base_info["date_info"], card_type, f"{prefix}.date_info", now, check)


def _check_code_mode_and_sku(base_info: dict[str, Any], prefix: str, check: CardCheck) -> None:
    mode = base_info.get("get_custom_code_mode")
    deposit = mode == DEPOSIT_MODE
    if mode is not None and not deposit:
        check.errors.append(
            CardIssue(f"{prefix}.get_custom_code_mode", "unknown_code_mode", {"value": mode, "allowed": DEPOSIT_MODE})
        )
    if deposit and base_info.get("use_custom_code") is not True:
        check.errors.append(CardIssue(f"{prefix}.use_custom_code", "deposit_needs_custom_code", {}))

    sku = base_info.get("sku")
    if sku is None:
        return
    if not isinstance(sku, dict):
        check.errors.append(CardIssue(f"{prefix}.sku", "not_object", {}))
        return
    if "quantity" not in sku:
        check.errors.append(CardIssue(f"{prefix}.sku.quantity", "missing", {}))
        return
    quantity = sku["quantity"]
    if not _check_int(quantity, f"{prefix}.sku.quantity", 0, MAX_QUANTITY, check):
        return
    if deposit and quantity != 0:
        check.errors.append(CardIssue(f"{prefix}.sku.quantity", "deposit_needs_zero_stock", {}))
    elif not deposit and quantity == 0:
        check.warnings.append(CardIssue(f"{prefix}.sku.quantity", "zero_stock", {}))


def _check_date_info(date_info: Any, card_type: str, prefix: str, now: float, check: CardCheck) -> None:
    if not isinstance(date_info, dict):
        check.errors.append(CardIssue(prefix, "not_object", {}))
        return
    date_type = date_info.get("type")
    if date_type is None:
        check.errors.append(CardIssue(f"{prefix}.type", "missing", {}))
        return
    # NOTE: Weixin also accepted the old numeric types 1 and 2; only the names are accepted here.
    if date_type not in DATE_TYPES:
        check.errors.append(CardIssue(f"{prefix}.type", "unknown_date_type", {"value": date_type, "allowed": ", ".join(DATE_TYPES)}))
        return

    if date_type == "DATE_TYPE_FIX_TIME_RANGE":
        _check_time_range(date_info, prefix, now, check)
    elif date_type == "DATE_TYPE_FIX_TERM":
        _check_fixed_term(date_info, prefix, check)
    elif card_type != "MEMBER_CARD":
        check.errors.append(CardIssue(f"{prefix}.type", "permanent_member_only", {}))


def _check_time_range(date_info: dict[str, Any], prefix: str, now: float, check: CardCheck) -> None:
    valid: dict[str, int] = {}
    for name in ("begin_timestamp", "end_timestamp"):
        if name not in date_info:
            check.errors.append(CardIssue(f"{prefix}.{name}", "missing", {}))
        elif _check_int(date_info[name], f"{prefix}.{name}", 0, 2**32 - 1, check):
            valid[name] = date_info[name]
    begin = valid.get("begin_timestamp")
    end = valid.get("end_timestamp")

    now_text = _format_time(now)
    if begin is not None and begin >= now:
        values = {"value": begin, "when": _format_time(begin), "now": now_text}
        check.errors.append(CardIssue(f"{prefix}.begin_timestamp", "begin_not_past", values))
    if end is not None and end <= now:
        values = {"value": end, "when": _format_time(end), "now": now_text}
        check.errors.append(CardIssue(f"{prefix}.end_timestamp", "end_not_future", values))
    if begin is not None and end is not None and end <= begin:
        check.errors.append(CardIssue(f"{prefix}.end_timestamp", "end_before_begin", {}))


def _check_fixed_term(date_info: dict[str, Any], prefix: str, check: CardCheck) -> None:
    # NOTE: older Weixin text allowed fixed_term 0 ("valid on the day of receipt"); the current
    # text rejects 0, so at least 1 day is required here.
    if "fixed_term" not in date_info:
        check.errors.append(CardIssue(f"{prefix}.fixed_term", "missing", {}))
    else:
        _check_int(date_info["fixed_term"], f"{prefix}.fixed_term", 1, 36500, check)
    if "fixed_begin_term" in date_info:
        _check_int(date_info["fixed_begin_term"], f"{prefix}.fixed_begin_term", 0, 36500, check)


def _check_type_field(body: dict[str, Any], card_type: str, prefix: str, check: CardCheck) -> None:
    name = TYPE_FIELDS.get(card_type)
    if name is None:
        return
    path = f"{prefix}.{name}"
    if name not in body:
        check.errors.append(CardIssue(path, "missing", {}))
    elif name == "reduce_cost":
        _check_int(body[name], path, 1, MAX_QUANTITY, check)
        if "least_cost" in body:
            _check_int(body["least_cost"], f"{prefix}.least_cost", 0, MAX_QUANTITY, check)
    elif name == "discount":
        _check_int(body[name], path, 1, 99, check)
    else:
        # NOTE: Weixin documents no byte limit for deal_detail, gift and default_detail.
        _check_string(body[name], path, None, check)


def _check_string(value: Any, path: str, limit: int | None, check: CardCheck) -> bool:
    if not isinstance(value, str):
        check.errors.append(CardIssue(path, "not_string", {}))
        return False
    if not value.strip():
        check.errors.append(CardIssue(path, "empty", {}))
        return False
    size = len(value.encode("utf-8"))
    if limit is not None and size > limit:
        check.errors.append(CardIssue(path, "too_long", {"size": size, "limit": limit, "chinese": limit // 3}))
        return False
    return True


def _check_int(value: Any, path: str, low: int, high: int, check: CardCheck) -> bool:
    # bool is a subclass of int in Python, but true is not a number in JSON.
    if isinstance(value, bool) or not isinstance(value, int):
        check.errors.append(CardIssue(path, "not_int", {}))
        return False
    if not low <= value <= high:
        check.errors.append(CardIssue(path, "out_of_range", {"value": value, "low": low, "high": high}))
        return False
    return True


def _format_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(timestamp))
