"""Typed results of the Weixin API calls. ``raw`` keeps the whole response for ``--json`` output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Credential:
    """An access_token or ticket with its absolute expiry (Unix seconds)."""

    value: str = field(repr=False)
    expires_at: float


@dataclass(frozen=True)
class CardInfo:
    """The card fields the landing page shows, from ``card/get``."""

    card_id: str
    card_type: str
    title: str
    brand_name: str
    logo_url: str
    color: str
    status: str
    custom_url: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_response(cls, card_id: str, data: dict[str, Any]) -> "CardInfo":
        card = data.get("card", {})
        card_type = str(card.get("card_type", ""))
        base_info = card.get(card_type.lower(), {}).get("base_info", {})
        return cls(
            card_id=card_id,
            card_type=card_type,
            title=str(base_info.get("title", "")),
            brand_name=str(base_info.get("brand_name", "")),
            logo_url=str(base_info.get("logo_url", "")),
            color=str(base_info.get("color", "")),
            status=str(base_info.get("status", "")),
            custom_url=str(base_info.get("custom_url", "")),
            raw=data,
        )

    @property
    def approved(self) -> bool:
        return self.status in ("CARD_STATUS_VERIFY_OK", "CARD_STATUS_DISPATCH")


@dataclass(frozen=True)
class CodeInfo:
    """A code's owner and state, from ``card/code/get``."""

    card_id: str
    openid: str
    can_consume: bool
    user_card_status: str
    outer_str: str
    begin_time: int | None
    end_time: int | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_response(cls, data: dict[str, Any]) -> "CodeInfo":
        card = data.get("card", {})
        return cls(
            card_id=str(card.get("card_id", "")),
            openid=str(data.get("openid", "")),
            can_consume=bool(data.get("can_consume", False)),
            user_card_status=str(data.get("user_card_status", "")),
            outer_str=str(data.get("outer_str", "")),
            begin_time=card.get("begin_time"),
            end_time=card.get("end_time"),
            raw=data,
        )


@dataclass(frozen=True)
class ConsumeResult:
    """The card and owner of a code consumed through ``card/code/consume``."""

    card_id: str
    openid: str
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class QRCodeResult:
    """A card QR code from ``card/qrcode/create``."""

    ticket: str
    url: str
    show_qrcode_url: str
    expire_seconds: int | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class DepositResult:
    """Per-code outcome of one ``card/code/deposit`` batch."""

    succ_code: list[str]
    duplicate_code: list[str]
    fail_code: list[str]
    raw: dict[str, Any] = field(repr=False, compare=False)
