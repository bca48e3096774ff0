"""Cards: image upload, card/create, card/get, QR codes, whitelist, stock and status."""

from __future__ import annotations

import base64
import copy
import logging
import re
import secrets
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from h5.sandbox.cardspec import (
    COLORS, DEFAULT_GET_LIMIT, DEFAULT_USE_LIMIT, DEPOSIT_MODE, LOGO_PATH, MAX_QUANTITY, OPENID_PATTERN,
    validate_card,
)
from h5.sandbox.errors import SandboxError, data_format, missing

if TYPE_CHECKING:
    from h5.sandbox.state import SandboxState

logger = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 1024 * 1024
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
QR_MIN_SECONDS, QR_MAX_SECONDS = 60, 1800
QR_DEFAULT_SECONDS = 365 * 86400
MAX_WHITELIST = 10
CARD_STATUSES = (
    "CARD_STATUS_NOT_VERIFY", "CARD_STATUS_VERIFY_FAIL", "CARD_STATUS_VERIFY_OK",
    "CARD_STATUS_DELETE", "CARD_STATUS_DISPATCH",
)
_CARD_ID_ALPHABET = string.ascii_letters + string.digits + "-_"
_WEIXIN_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{5,19}")


@dataclass
class Card:
    """A created card; ``inner`` is the object under the lower-case card_type key."""

    card_id: str
    appid: str
    card_type: str
    inner: dict[str, Any]
    status: str
    quantity: int
    total_quantity: int
    create_time: int
    update_time: int
    # Deposited custom codes in deposit order, mapped to whether a user received them.
    deposited: dict[str, bool] = field(default_factory=dict)

    @property
    def base_info(self) -> dict[str, Any]:
        return self.inner["base_info"]

    @property
    def deposit_mode(self) -> bool:
        return self.base_info.get("get_custom_code_mode") == DEPOSIT_MODE

    @property
    def custom_code(self) -> bool:
        """True when the merchant supplies codes, so APIs need card_id next to the code."""
        return bool(self.base_info.get("use_custom_code")) or self.deposit_mode

    @property
    def get_limit(self) -> int:
        return int(self.base_info.get("get_limit", DEFAULT_GET_LIMIT))


@dataclass
class QRCode:
    """A QR code from card/qrcode/create; ``entries`` are the action_info card objects."""

    ticket: str
    appid: str
    action_name: str
    entries: list[dict[str, Any]]
    expires_at: float
    url: str
    received: int = 0


def _image_type(content: bytes) -> str | None:
    if content.startswith(JPEG_MAGIC):
        return "image/jpeg"
    if content.startswith(PNG_MAGIC):
        return "image/png"
    return None


class CardMixin:
    """Card methods of ``SandboxState``."""

    def __init__(self: "SandboxState") -> None:
        self.media: dict[str, tuple[bytes, str]] = {}
        self.cards: dict[str, Card] = {}
        self.qrcodes: dict[str, QRCode] = {}
        self.whitelists: dict[str, dict[str, list[str]]] = {}

    # -- images --------------------------------------------------------------------------

    def upload_image(self: "SandboxState", content: bytes | None) -> str:
        """Store a logo (<= 1 MB, JPG or PNG by content) and return its media id."""
        if content is None:
            raise SandboxError(41005, "media data missing")
        if len(content) > MAX_IMAGE_BYTES:
            raise SandboxError(40009, f"invalid image size: {len(content)} bytes, limit {MAX_IMAGE_BYTES}")
        content_type = _image_type(content)
        if content_type is None:
            # NOTE: Weixin's errcode for a file that is not JPG or PNG is not documented exactly.
            raise SandboxError(40009, "invalid image size: the file is not a JPG or PNG image")
        media_id = secrets.token_urlsafe(48)
        with self.lock:
            self.media[media_id] = (content, content_type)
        return media_id

    def image(self: "SandboxState", media_id: str) -> tuple[bytes, str] | None:
        """Return ``(bytes, content type)`` of an uploaded image, or None."""
        with self.lock:
            return self.media.get(media_id)

    def issued_logo_url(self: "SandboxState", url: str) -> bool:
        """Tell whether ``url`` is a ``/mmbiz/<id>/0`` URL of an image uploaded here (any host)."""
        match = LOGO_PATH.fullmatch(url)
        with self.lock:
            return bool(match) and match.group(1) in self.media

    # -- create and read -----------------------------------------------------------------

    def create_card(self: "SandboxState", appid: str, body: Any) -> str:
        """Validate a card/create body and store the card as CARD_STATUS_NOT_VERIFY; return its card_id."""
        now = self.now()
        card_type, inner = validate_card(body, now, self.issued_logo_url)
        inner = copy.deepcopy(inner)
        quantity = inner["base_info"]["sku"]["quantity"]
        card_id = "p" + "".join(secrets.choice(_CARD_ID_ALPHABET) for _ in range(27))
        card = Card(
            card_id, appid, card_type, inner, "CARD_STATUS_NOT_VERIFY",
            quantity, quantity, int(now), int(now),
        )
        with self.lock:
            self.cards[card_id] = card
        logger.info("sandbox created card card_id=%s type=%s appid=%s", card_id, card_type, appid)
        return card_id

    def card(self: "SandboxState", card_id: Any, appid: str | None = None) -> Card:
        """Return a card, or raise 40073 when it is unknown or belongs to another appid."""
        if not card_id:
            raise SandboxError(41012, "card_id missing")
        with self.lock:
            found = self.cards.get(card_id) if isinstance(card_id, str) else None
        if found is None or (appid is not None and found.appid != appid):
            raise SandboxError(40073, "invalid card id")
        return found

    def card_view(self: "SandboxState", card_id: Any, appid: str) -> dict[str, Any]:
        """Return the ``card`` object of card/get: base_info with hex colour, status and sku."""
        with self.lock:
            card = self.card(card_id, appid)
            inner = copy.deepcopy(card.inner)
            base = inner["base_info"]
            base.update({
                "id": card.card_id,
                "color": COLORS[base["color"]],
                "status": card.status,
                "sku": {"quantity": card.quantity, "total_quantity": card.total_quantity},
                "create_time": card.create_time,
                "update_time": card.update_time,
            })
            base.setdefault("get_limit", DEFAULT_GET_LIMIT)
            base.setdefault("use_limit", DEFAULT_USE_LIMIT)
            for flag in ("use_custom_code", "bind_openid", "can_give_friend"):
                base.setdefault(flag, False)
            base.setdefault("can_share", True)
            return {"card_type": card.card_type, card.card_type.lower(): inner}

    # -- status, stock, delete -----------------------------------------------------------

    def set_card_status(self: "SandboxState", card_id: str, status: str, reason: str | None = None) -> Card:
        """Set a card's review status; VERIFY_OK and VERIFY_FAIL push card_pass_check / card_not_pass_check."""
        if status not in CARD_STATUSES:
            raise ValueError(f"status must be one of {', '.join(CARD_STATUSES)}, got {status!r}")
        with self.lock:
            card = self.card(card_id)
            card.status = status
            card.update_time = int(self.now())
        logger.info("sandbox set card card_id=%s status=%s", card_id, status)

        if status == "CARD_STATUS_VERIFY_OK":
            self.emit(self.event(card.appid, card.appid, "card_pass_check", CardId=card_id, RefuseReason=""))
        elif status == "CARD_STATUS_VERIFY_FAIL":
            self.emit(self.event(
                card.appid, card.appid, "card_not_pass_check", CardId=card_id, RefuseReason=reason or "",
            ))
        return card

    def delete_card(self: "SandboxState", appid: str, card_id: Any) -> None:
        """Handle card/delete: the card stops being distributable; received codes stay usable."""
        with self.lock:
            card = self.card(card_id, appid)
            card.status = "CARD_STATUS_DELETE"
            card.update_time = int(self.now())
        logger.info("sandbox deleted card card_id=%s appid=%s", card_id, appid)

    def modify_stock(self: "SandboxState", appid: str, body: dict[str, Any]) -> None:
        """Handle card/modifystock with increase_stock_value or reduce_stock_value."""
        increase = body.get("increase_stock_value", 0)
        reduce = body.get("reduce_stock_value", 0)
        for name, value in (("increase_stock_value", increase), ("reduce_stock_value", reduce)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SandboxError(40122, f"invalid quantity: {name} must be an integer >= 0, got {value!r}")
        with self.lock:
            card = self.card(body.get("card_id"), appid)
            quantity = card.quantity + increase - reduce
            if not 0 <= quantity <= MAX_QUANTITY:
                raise SandboxError(40122, f"invalid quantity: stock would become {quantity}, allowed 0..{MAX_QUANTITY}")
            # Deposit-mode stock may not exceed the deposited codes that no user has received yet.
            unused = sum(1 for used in card.deposited.values() if not used)
            if card.deposit_mode and increase and quantity > unused:
                raise SandboxError(
                    40122, f"invalid quantity: stock {quantity} exceeds the {unused} deposited codes not yet received",
                )
            card.quantity = quantity
            card.total_quantity = max(0, card.total_quantity + increase - reduce)
            card.update_time = int(self.now())

    # -- distribution --------------------------------------------------------------------

    def set_whitelist(self: "SandboxState", appid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Handle card/testwhitelist/set: replace the whole list (at most 10 entries in total)."""
        openids = body.get("openid", [])
        usernames = body.get("username", [])
        if not isinstance(openids, list) or not isinstance(usernames, list):
            raise data_format("openid and username must be lists of strings")
        # NOTE: Weixin's errcode for more than 10 entries is not documented; 40097 (invalid args) is a guess.
        if len(openids) + len(usernames) > MAX_WHITELIST:
            raise SandboxError(
                40097, f"invalid args: {len(openids) + len(usernames)} whitelist entries, at most {MAX_WHITELIST}",
            )
        for openid in openids:
            if not isinstance(openid, str) or not OPENID_PATTERN.fullmatch(openid):
                raise SandboxError(40003, f"invalid openid {openid!r}")
        for username in usernames:
            if not isinstance(username, str) or not _WEIXIN_ID.fullmatch(username):
                raise SandboxError(40132, f"invalid username {username!r}")
        with self.lock:
            self.whitelists[appid] = {"openid": list(openids), "username": list(usernames)}
        return {
            "errcode": 0, "errmsg": "ok", "white_list_size": len(openids) + len(usernames),
            "success_openid": list(openids), "success_username": list(usernames),
        }

    def whitelisted(self: "SandboxState", appid: str, openid: str) -> bool:
        """Tell whether ``openid`` is on the test whitelist of ``appid``."""
        with self.lock:
            return openid in self.whitelists.get(appid, {}).get("openid", [])

    def create_qrcode(self: "SandboxState", appid: str, body: Any) -> dict[str, Any]:
        """Handle card/qrcode/create for QR_CARD and QR_MULTIPLE_CARD."""
        if not isinstance(body, dict):
            raise data_format("the body must be a JSON object")
        expire_seconds = body.get("expire_seconds")
        if expire_seconds is None:
            expire_seconds = QR_DEFAULT_SECONDS
        elif (not isinstance(expire_seconds, int) or isinstance(expire_seconds, bool)
              or not QR_MIN_SECONDS <= expire_seconds <= QR_MAX_SECONDS):
            raise SandboxError(
                40097, f"invalid args: expire_seconds must be {QR_MIN_SECONDS}..{QR_MAX_SECONDS}, got {expire_seconds!r}",
            )

        entries = self._qrcode_entries(body)
        with self.lock:
            for entry in entries:
                self._check_qrcode_entry(appid, entry)
            ticket_bytes = b"\x81\x01\xf0:" + secrets.token_bytes(8) + b"http://weixin.qq.com/q/" + secrets.token_bytes(24)
            ticket = base64.b64encode(ticket_bytes).decode("ascii")
            url = "http://weixin.qq.com/q/" + secrets.token_urlsafe(16)
            self.qrcodes[ticket] = QRCode(
                ticket, appid, body["action_name"], entries, self.now() + expire_seconds, url,
            )
        logger.info("sandbox created %s for %d card(s) appid=%s", body["action_name"], len(entries), appid)
        return {
            "errcode": 0, "errmsg": "ok", "ticket": ticket, "expire_seconds": expire_seconds, "url": url,
            "show_qrcode_url": "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=" + quote(ticket, safe=""),
        }

    def _qrcode_entries(self: "SandboxState", body: dict[str, Any]) -> list[dict[str, Any]]:
        action_name = body.get("action_name")
        action_info = body.get("action_info")
        if action_name is None:
            raise missing("action_name")
        if not isinstance(action_info, dict):
            raise SandboxError(40053, "invalid action info: action_info is missing")
        if action_name == "QR_CARD":
            card = action_info.get("card")
            if not isinstance(card, dict):
                raise SandboxError(40053, "invalid action info: QR_CARD needs action_info.card")
            return [dict(card)]
        if action_name == "QR_MULTIPLE_CARD":
            multiple = action_info.get("multiple_card")
            card_list = multiple.get("card_list") if isinstance(multiple, dict) else None
            if not isinstance(card_list, list) or not card_list or not all(isinstance(c, dict) for c in card_list):
                raise SandboxError(40053, "invalid action info: QR_MULTIPLE_CARD needs action_info.multiple_card.card_list")
            return [dict(card) for card in card_list]
        raise SandboxError(40053, f"invalid action info: action_name {action_name!r} must be QR_CARD or QR_MULTIPLE_CARD")

    def _check_qrcode_entry(self: "SandboxState", appid: str, entry: dict[str, Any]) -> None:
        card = self.card(entry.get("card_id"), appid)
        if card.status == "CARD_STATUS_DELETE":
            raise SandboxError(40078, "invalid card status: the card was deleted")
        outer_str = entry.get("outer_str")
        if outer_str is not None and (not isinstance(outer_str, str) or len(outer_str.encode()) > 128):
            raise SandboxError(45021, "field size out of limit: outer_str is at most 128 bytes")
        outer_id = entry.get("outer_id", 0)
        if not isinstance(outer_id, int) or isinstance(outer_id, bool):
            raise data_format(f"outer_id must be an integer scene value, got {outer_id!r}")
        code = entry.get("code")
        if code is not None and (not isinstance(code, str) or not 0 < len(code) <= 20):
            raise SandboxError(40056, f"invalid serial code {code!r}")
        if card.custom_code and not card.deposit_mode and not code:
            raise missing("code")
        if card.base_info.get("bind_openid") and not entry.get("openid"):
            raise missing("openid")
        if entry.get("is_unique_code"):
            if card.status != "CARD_STATUS_VERIFY_OK":
                raise SandboxError(40078, "invalid card status: is_unique_code needs an approved card")
        if card.quantity <= 0:
            raise SandboxError(45031, "stock is zero")

    def qrcode(self: "SandboxState", ticket_or_url: str) -> QRCode:
        """Return a QR code by its ticket or its ``url``; raise 40053 when unknown."""
        with self.lock:
            found = self.qrcodes.get(ticket_or_url)
            if found is None:
                found = next((qr for qr in self.qrcodes.values() if qr.url == ticket_or_url), None)
        if found is None:
            raise SandboxError(40053, "invalid action info: unknown QR code")
        return found
