"""Typed card events pushed by Weixin, one dataclass per ``Event`` value.

Field names are snake_case forms of Weixin's; each field's metadata keeps the Weixin
name. Fields that Weixin may leave out are Optional. For example, ``OuterStr`` is absent
when a user restores a deleted member card (``IsRestoreMemberCard`` = 1). An event type
not listed here becomes a ``RawEvent`` that keeps every field as received.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

logger = logging.getLogger(__name__)


def _text(value: Any) -> str:
    """Read a text field; a nested element or JSON object is kept as JSON text."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def wx(name: str, kind: Callable[[Any], Any] = _text, default: Any = dataclasses.MISSING) -> Any:
    """Declare a dataclass field read from the Weixin field ``name`` and converted by ``kind``.

    A field without ``default`` is required. An empty value counts as absent.
    """
    return field(default=default, metadata={"wx": name, "kind": kind})


def _flag(value: Any) -> bool:
    """Read Weixin's 0/1 flags, which arrive as text in XML and as numbers in JSON."""
    return str(value).strip() == "1"


class EventFieldError(ValueError):
    """A pushed event lacks a required field or has one that cannot be converted."""


@dataclass(frozen=True, kw_only=True)
class CardEvent:
    """The envelope every pushed event carries."""

    event: str = wx("Event")
    to_user_name: str = wx("ToUserName")
    from_user_name: str = wx("FromUserName")
    create_time: int = wx("CreateTime", int)

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> "CardEvent":
        """Build the event from Weixin's fields; raises ``EventFieldError`` naming the field."""
        values = {}
        for spec in dataclasses.fields(cls):
            if "wx" not in spec.metadata:
                continue
            name = spec.metadata["wx"]
            raw = fields.get(name)
            if raw is None or raw == "":
                if spec.default is dataclasses.MISSING:
                    raise EventFieldError(f"{fields.get('Event')} push: field {name} is missing")
                continue
            try:
                values[spec.name] = spec.metadata["kind"](raw)
            except (TypeError, ValueError):
                raise EventFieldError(f"{fields.get('Event')} push: field {name}={raw!r} is not valid") from None
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields under their snake_case names, for JSON output."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class CardPassCheck(CardEvent):
    """``card_pass_check``: a card passed review."""

    card_id: str = wx("CardId")
    refuse_reason: str | None = wx("RefuseReason", default=None)


@dataclass(frozen=True, kw_only=True)
class CardNotPassCheck(CardEvent):
    """``card_not_pass_check``: a card failed review, with the reason."""

    card_id: str = wx("CardId")
    refuse_reason: str | None = wx("RefuseReason", default=None)


@dataclass(frozen=True, kw_only=True)
class UserGetCard(CardEvent):
    """``user_get_card``: a user received a card; ``outer_str`` is the channel."""

    card_id: str = wx("CardId")
    user_card_code: str | None = wx("UserCardCode", default=None)
    is_give_by_friend: bool = wx("IsGiveByFriend", _flag, default=False)
    friend_user_name: str | None = wx("FriendUserName", default=None)
    old_user_card_code: str | None = wx("OldUserCardCode", default=None)
    outer_id: int | None = wx("OuterId", int, default=None)
    outer_str: str | None = wx("OuterStr", default=None)
    is_restore_member_card: bool = wx("IsRestoreMemberCard", _flag, default=False)
    is_recommend_by_friend: bool = wx("IsRecommendByFriend", _flag, default=False)
    union_id: str | None = wx("UnionId", default=None)
    source_scene: str | None = wx("SourceScene", default=None)


@dataclass(frozen=True, kw_only=True)
class UserGiftingCard(CardEvent):
    """``user_gifting_card``: a user gave a card to a friend, or a gift came back."""

    card_id: str = wx("CardId")
    user_card_code: str | None = wx("UserCardCode", default=None)
    is_return_back: bool = wx("IsReturnBack", _flag, default=False)
    friend_user_name: str | None = wx("FriendUserName", default=None)
    is_chat_room: bool = wx("IsChatRoom", _flag, default=False)


@dataclass(frozen=True, kw_only=True)
class UserDelCard(CardEvent):
    """``user_del_card``: a user deleted a card."""

    card_id: str = wx("CardId")
    user_card_code: str | None = wx("UserCardCode", default=None)


@dataclass(frozen=True, kw_only=True)
class UserConsumeCard(CardEvent):
    """``user_consume_card``: a code was redeemed; ``outer_str`` is the value passed when consuming."""

    card_id: str = wx("CardId")
    user_card_code: str | None = wx("UserCardCode", default=None)
    consume_source: str | None = wx("ConsumeSource", default=None)
    location_name: str | None = wx("LocationName", default=None)
    staff_open_id: str | None = wx("StaffOpenId", default=None)
    verify_code: str | None = wx("VerifyCode", default=None)
    remark_amount: str | None = wx("RemarkAmount", default=None)
    outer_str: str | None = wx("OuterStr", default=None)


@dataclass(frozen=True, kw_only=True)
class UserPayFromPayCell(CardEvent):
    """``user_pay_from_pay_cell``: a user paid through the card's pay cell; fees are in fen."""

    card_id: str = wx("CardId")
    user_card_code: str | None = wx("UserCardCode", default=None)
    trans_id: str | None = wx("TransId", default=None)
    location_id: str | None = wx("LocationId", default=None)
    fee: int | None = wx("Fee", int, default=None)
    original_fee: int | None = wx("OriginalFee", int, default=None)


@dataclass(frozen=True, kw_only=True)
class UserViewCard(CardEvent):
    """``user_view_card``: a user opened a member card; needs ``need_push_on_view``."""

    card_id: str = wx("CardId")
    user_card_code: str | None = wx("UserCardCode", default=None)
    outer_str: str | None = wx("OuterStr", default=None)


@dataclass(frozen=True, kw_only=True)
class UserEnterSessionFromCard(CardEvent):
    """``user_enter_session_from_card``: a user opened the account's chat from a card."""

    card_id: str = wx("CardId")
    user_card_code: str | None = wx("UserCardCode", default=None)


@dataclass(frozen=True, kw_only=True)
class UpdateMemberCard(CardEvent):
    """``update_member_card``: a member card's bonus or balance changed."""

    card_id: str = wx("CardId")
    user_card_code: str | None = wx("UserCardCode", default=None)
    modify_bonus: int | None = wx("ModifyBonus", int, default=None)
    modify_balance: int | None = wx("ModifyBalance", int, default=None)


@dataclass(frozen=True, kw_only=True)
class CardSkuRemind(CardEvent):
    """``card_sku_remind``: the last unit of a card's stock was taken."""

    card_id: str = wx("CardId")
    detail: str | None = wx("Detail", default=None)


@dataclass(frozen=True, kw_only=True)
class CardPayOrder(CardEvent):
    """``card_pay_order``: a coin order of the card payment service changed state."""

    order_id: str | None = wx("OrderId", default=None)
    status: str | None = wx("Status", default=None)
    create_order_time: int | None = wx("CreateOrderTime", int, default=None)
    pay_finish_time: int | None = wx("PayFinishTime", int, default=None)
    desc: str | None = wx("Desc", default=None)
    free_coin_count: str | None = wx("FreeCoinCount", default=None)
    pay_coin_count: str | None = wx("PayCoinCount", default=None)
    refund_free_coin_count: str | None = wx("RefundFreeCoinCount", default=None)
    refund_pay_coin_count: str | None = wx("RefundPayCoinCount", default=None)
    order_type: str | None = wx("OrderType", default=None)
    memo: str | None = wx("Memo", default=None)
    receipt_info: str | None = wx("ReceiptInfo", default=None)


@dataclass(frozen=True, kw_only=True)
class SubmitMembercardUserInfo(CardEvent):
    """``submit_membercard_user_info``: a member activated a card or edited their details."""

    card_id: str = wx("CardId")
    user_card_code: str | None = wx("UserCardCode", default=None)


@dataclass(frozen=True, kw_only=True)
class RawEvent(CardEvent):
    """An event type with no class here, or one whose fields did not convert; ``fields`` is the push."""

    fields: dict[str, Any] = field(default_factory=dict)


EVENT_TYPES: dict[str, type[CardEvent]] = {
    "card_pass_check": CardPassCheck,
    "card_not_pass_check": CardNotPassCheck,
    "user_get_card": UserGetCard,
    "user_gifting_card": UserGiftingCard,
    "user_del_card": UserDelCard,
    "user_consume_card": UserConsumeCard,
    "user_pay_from_pay_cell": UserPayFromPayCell,
    "user_view_card": UserViewCard,
    "user_enter_session_from_card": UserEnterSessionFromCard,
    "update_member_card": UpdateMemberCard,
    "card_sku_remind": CardSkuRemind,
    "card_pay_order": CardPayOrder,
    "submit_membercard_user_info": SubmitMembercardUserInfo,
}


def parse_event(fields: dict[str, Any]) -> CardEvent:
    """Return the typed event for a push's fields, or a ``RawEvent`` when no type fits.

    A push of a known type whose fields do not convert is kept raw instead of rejected,
    because rejecting it would make Weixin retry a push that can never succeed.
    """
    event_class = EVENT_TYPES.get(str(fields.get("Event", "")))
    if event_class is not None:
        try:
            return event_class.from_fields(fields)
        except EventFieldError as exc:
            logger.warning("event kept raw: %s", exc)
    # ASCII digits only: str.isdigit() also accepts "²", which int() rejects.
    create_time = str(fields.get("CreateTime", ""))
    return RawEvent(
        event=_text(fields.get("Event", "")),
        to_user_name=_text(fields.get("ToUserName", "")),
        from_user_name=_text(fields.get("FromUserName", "")),
        create_time=int(create_time) if create_time.isascii() and create_time.isdigit() else 0,
        fields=dict(fields),
    )


# The fields that tell two pushes apart. Weixin retries a push with the same values, and
# two codes taken in the same second differ in UserCardCode.
DEDUP_FIELDS = ("FromUserName", "CreateTime", "Event", "CardId", "UserCardCode", "MsgId")


def dedup_key(fields: dict[str, Any]) -> str:
    """Return the text that identifies one push across Weixin's retries."""
    # Weixin's ids, times, event names and codes are printable text, and XML 1.0 cannot
    # carry the unit separator at all, so distinct pushes give distinct keys.
    return "\x1f".join(str(fields.get(name, "")) for name in DEDUP_FIELDS)


def event_id_for(fields: dict[str, Any]) -> str:
    """Return the stored id of a push: 32 hex digits of the sha256 of its dedup key."""
    return hashlib.sha256(dedup_key(fields).encode("utf-8")).hexdigest()[:32]
