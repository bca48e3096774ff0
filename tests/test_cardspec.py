"""Local card checks of ``h5.cardspec`` on the shipped example and on broken copies of it."""

from __future__ import annotations

import copy
import json

import pytest

from h5.cardspec import load_card_file, validate_card
from tests.wxcard_cli import EXAMPLES

NOW = 1_800_000_000


@pytest.fixture
def card() -> dict:
    return copy.deepcopy(load_card_file(EXAMPLES / "hotpot-groupon.json"))


def base_info(card: dict) -> dict:
    return card["groupon"]["base_info"]


def error_fields(card: dict) -> list[str]:
    return [issue.field for issue in validate_card(card, now=NOW).errors]


def test_example_card_passes(card: dict):
    check = validate_card(card, now=NOW)

    assert check.errors == []
    assert check.warnings == []
    assert base_info(card)["title"] == "132元双人火锅套餐"
    assert base_info(card)["brand_name"] == "微信餐厅"
    assert base_info(card)["date_info"] == {"type": "DATE_TYPE_FIX_TERM", "fixed_term": 30, "fixed_begin_term": 0}


def test_load_accepts_bare_card(tmp_path, card: dict):
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(card, ensure_ascii=False), encoding="utf-8")

    assert load_card_file(path) == card


def test_title_limit_counts_bytes(card: dict):
    base_info(card)["title"] = "一二三四五六七八九"
    assert error_fields(card) == []

    base_info(card)["title"] = "一二三四五六七八九0"
    [issue] = validate_card(card, now=NOW).errors
    assert issue.field == "card.groupon.base_info.title"
    assert issue.message() == "card.groupon.base_info.title: is 28 bytes in UTF-8; the limit is 27 bytes (9 Chinese characters)"


@pytest.mark.parametrize(
    "field, value",
    [
        ("brand_name", "微" * 13),
        ("notice", "使" * 17),
        ("sub_title", "周" * 19),
        ("logo_url", "http://mmbiz.qpic.cn/" + "a" * 108),
        ("description", "不" * 1025),
        ("service_phone", "0" * 25),
    ],
)
def test_byte_limits(card: dict, field: str, value: str):
    base_info(card)[field] = value

    assert error_fields(card) == [f"card.groupon.base_info.{field}"]


@pytest.mark.parametrize("field", ["logo_url", "code_type", "brand_name", "title", "color", "notice", "description", "sku", "date_info"])
def test_required_base_info(card: dict, field: str):
    del base_info(card)[field]

    assert error_fields(card) == [f"card.groupon.base_info.{field}"]


def test_type_specific_field_required(card: dict):
    del card["groupon"]["deal_detail"]

    assert error_fields(card) == ["card.groupon.deal_detail"]


def test_unknown_card_type(card: dict):
    card["card_type"] = "COUPON"

    [issue] = validate_card(card, now=NOW).errors
    assert issue.field == "card.card_type"
    assert "'COUPON' is not a card type" in issue.message()


@pytest.mark.parametrize("color, ok", [("Color010", True), ("Color102", True), ("Color011", False), ("#63b359", False)])
def test_colour_names(card: dict, color: str, ok: bool):
    base_info(card)["color"] = color

    assert (error_fields(card) == []) is ok


def test_time_range_relative_to_now(card: dict):
    date_info = {"type": "DATE_TYPE_FIX_TIME_RANGE", "begin_timestamp": NOW - 1, "end_timestamp": NOW + 1}
    base_info(card)["date_info"] = date_info
    assert error_fields(card) == []

    date_info["begin_timestamp"] = NOW
    date_info["end_timestamp"] = NOW
    assert error_fields(card) == [
        "card.groupon.base_info.date_info.begin_timestamp",
        "card.groupon.base_info.date_info.end_timestamp",
        "card.groupon.base_info.date_info.end_timestamp",
    ]


def test_time_range_needs_integers(card: dict):
    base_info(card)["date_info"] = {"type": "DATE_TYPE_FIX_TIME_RANGE", "begin_timestamp": "1700000000", "end_timestamp": True}

    messages = [issue.message() for issue in validate_card(card, now=NOW).errors]
    assert messages == [
        "card.groupon.base_info.date_info.begin_timestamp: must be a whole number",
        "card.groupon.base_info.date_info.end_timestamp: must be a whole number",
    ]


def test_fixed_term_rules(card: dict):
    base_info(card)["date_info"] = {"type": "DATE_TYPE_FIX_TERM", "fixed_term": 0, "fixed_begin_term": -1}

    assert error_fields(card) == [
        "card.groupon.base_info.date_info.fixed_term",
        "card.groupon.base_info.date_info.fixed_begin_term",
    ]


def test_permanent_only_for_member_cards(card: dict):
    base_info(card)["date_info"] = {"type": "DATE_TYPE_PERMANENT"}

    assert error_fields(card) == ["card.groupon.base_info.date_info.type"]


def test_deposit_mode_rules(card: dict):
    base_info(card)["get_custom_code_mode"] = "GET_CUSTOM_CODE_MODE_DEPOSIT"

    assert error_fields(card) == ["card.groupon.base_info.use_custom_code", "card.groupon.base_info.sku.quantity"]

    base_info(card)["use_custom_code"] = True
    base_info(card)["sku"] = {"quantity": 0}
    assert error_fields(card) == []


def test_zero_stock_warns(card: dict):
    base_info(card)["sku"] = {"quantity": 0}

    check = validate_card(card, now=NOW)

    assert check.errors == []
    assert [issue.field for issue in check.warnings] == ["card.groupon.base_info.sku.quantity"]


def test_messages_in_chinese(card: dict):
    del base_info(card)["notice"]

    [issue] = validate_card(card, now=NOW).errors

    assert issue.message("zh") == "card.groupon.base_info.notice: 是必填字段，但缺失"
