"""User codes: receiving a card, code/get, decrypt, consume, deposit and the custom-entry URL.

Each received code gets an ``encrypt_code``: standard base64 of a random 16-byte IV
followed by the AES-CBC ciphertext of the code under the sandbox key. When that length
is a multiple of 3 (codes of 16 to 20 characters), one random byte is appended so that
the text ends in ``=``. The IV is drawn again until the text also contains ``+`` and
``/``, so clients meet every character that needs care in a URL. ``card/code/decrypt``
accepts only that exact string.
"""

from __future__ import annotations

import base64
import logging
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from h5.sandbox.cardspec import OPENID_PATTERN, date_window
from h5.sandbox.errors import SandboxError, data_format, missing

if TYPE_CHECKING:
    from h5.sandbox.cards import Card
    from h5.sandbox.state import SandboxState

logger = logging.getLogger(__name__)

USER_CARD_STATUSES = ("NORMAL", "CONSUMED", "EXPIRE", "GIFTING", "GIFT_TIMEOUT", "DELETE", "UNAVAILABLE")
MAX_CODES_PER_CALL = 100
MAX_ENCRYPT_ATTEMPTS = 1000
# Custom codes: 1 to 20 printable ASCII characters without spaces.
_CODE = re.compile(r"[!-~]{1,20}")


@dataclass
class Code:
    """A code a user received."""

    code: str
    card_id: str
    appid: str
    openid: str
    encrypt_code: str
    received_at: float
    begin_time: int
    end_time: int
    status: str = "NORMAL"
    outer_str: str = ""
    outer_id: int = 0


class CodeMixin:
    """Code methods of ``SandboxState``."""

    def __init__(self: "SandboxState") -> None:
        self.codes: dict[tuple[str, str], Code] = {}
        self.codes_by_value: dict[str, list[Code]] = {}
        self.encrypt_index: dict[str, Code] = {}

    # -- encrypt_code --------------------------------------------------------------------

    def _encrypt(self: "SandboxState", code: str) -> str:
        padder = padding.PKCS7(128).padder()
        padded = padder.update(code.encode("ascii")) + padder.finalize()
        text = ""
        for _ in range(MAX_ENCRYPT_ATTEMPTS):
            iv = secrets.token_bytes(16)
            encryptor = Cipher(algorithms.AES(self.code_key), modes.CBC(iv)).encryptor()
            raw = iv + encryptor.update(padded) + encryptor.finalize()
            # Base64 of a length divisible by 3 has no "=", so add one filler byte.
            if len(raw) % 3 == 0:
                raw += secrets.token_bytes(1)
            text = base64.b64encode(raw).decode("ascii")
            if "+" in text and "/" in text and text not in self.encrypt_index:
                return text
        return text

    def _decrypt(self: "SandboxState", text: str) -> str:
        raw = base64.b64decode(text, validate=True)
        # The ciphertext is whole AES blocks; anything after them is the filler byte.
        ciphertext = raw[16:]
        ciphertext = ciphertext[: len(ciphertext) - len(ciphertext) % 16]
        decryptor = Cipher(algorithms.AES(self.code_key), modes.CBC(raw[:16])).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode("ascii")

    # -- receiving -----------------------------------------------------------------------

    def issue_code(
        self: "SandboxState",
        appid: str,
        card_id: str,
        openid: str,
        outer_str: str | None = None,
        code: str | None = None,
        bound_openid: str | None = None,
        outer_id: int = 0,
        source_scene: str = "SOURCE_SCENE_UNKNOW",
    ) -> Code:
        """Let ``openid`` receive one unit of a card and push ``user_get_card``.

        ``code`` is the merchant's code for custom-code cards (for deposit-mode cards it
        is optional and must be a deposited one). ``bound_openid`` is the openid the
        card_ext or QR code named. When given, it must equal ``openid``, and a
        ``bind_openid`` card requires it. Raises 40003 (openid), 40073, 40078 (deleted, or
        unapproved and openid not whitelisted), 40079 (card expired), 45031 (stock 0),
        45033 (get_limit reached), 41011 (missing code or openid), 40056 or 40116 (code).
        """
        if not isinstance(openid, str) or not OPENID_PATTERN.fullmatch(openid):
            raise SandboxError(40003, f"invalid openid {openid!r}")
        with self.lock:
            card = self.card(card_id, appid)
            now = self.now()
            self._check_receivable(card, openid, bound_openid, now)
            value = self._choose_code(card, code)

            begin_time, end_time = date_window(card.base_info["date_info"], now)
            record = Code(
                value, card.card_id, appid, openid, self._encrypt(value), now, begin_time, end_time,
                outer_str=outer_str or "", outer_id=int(outer_id or 0),
            )
            self.codes[(card.card_id, value)] = record
            self.codes_by_value.setdefault(value, []).append(record)
            self.encrypt_index[record.encrypt_code] = record
            if value in card.deposited:
                card.deposited[value] = True
            card.quantity -= 1
            sold_out = card.quantity == 0

        logger.info("sandbox issued a code card_id=%s appid=%s", card.card_id, appid)
        fields: dict[str, Any] = {
            "CardId": card.card_id, "IsGiveByFriend": 0, "UserCardCode": value, "FriendUserName": "",
            "OuterId": record.outer_id, "OldUserCardCode": "", "IsRestoreMemberCard": 0,
            "IsRecommendByFriend": 0, "SourceScene": source_scene,
        }
        if outer_str:
            fields["OuterStr"] = outer_str
        self.emit(self.event(appid, openid, "user_get_card", **fields))
        if sold_out:
            self.emit(self.event(
                appid, appid, "card_sku_remind", CardId=card.card_id, Detail="the card's quantity is equal to 0",
            ))
        return record

    def _check_receivable(self: "SandboxState", card: "Card", openid: str, bound_openid: str | None, now: float) -> None:
        if card.status == "CARD_STATUS_DELETE":
            raise SandboxError(40078, "invalid card status: the card was deleted")
        if card.status in ("CARD_STATUS_NOT_VERIFY", "CARD_STATUS_VERIFY_FAIL") and not self.whitelisted(card.appid, openid):
            raise SandboxError(
                40078, f"invalid card status: {card.status} cards can only be received by test-whitelist users",
            )
        date_info = card.base_info["date_info"]
        if "end_timestamp" in date_info and int(date_info["end_timestamp"]) <= now:
            raise SandboxError(40079, "invalid time: the card has expired")
        # An openid named by the card_ext or QR code limits the receiver to that user on any
        # card; bind_openid cards require one.
        if card.base_info.get("bind_openid") and not bound_openid:
            raise missing("openid")
        if bound_openid and bound_openid != openid:
            raise SandboxError(40003, "invalid openid: this card or QR code is bound to another openid")
        received = sum(1 for key, record in self.codes.items() if key[0] == card.card_id and record.openid == openid)
        if received >= card.get_limit:
            raise SandboxError(45033, f"user has reached the get_limit of {card.get_limit} for this card")
        if card.quantity <= 0:
            raise SandboxError(45031, "stock is zero")

    def _choose_code(self: "SandboxState", card: "Card", code: str | None) -> str:
        if card.deposit_mode:
            if code is None:
                code = next((value for value, used in card.deposited.items() if not used), None)
                if code is None:
                    raise SandboxError(45031, "stock is zero: no deposited code is left")
            elif card.deposited.get(code) is not False:
                raise SandboxError(40056, "invalid serial code: not a deposited code that is still free")
            return code
        if card.custom_code:
            if not code:
                raise missing("code")
            if not isinstance(code, str) or not _CODE.fullmatch(code):
                raise SandboxError(40116, f"invalid code {code!r}: 1 to 20 printable characters")
            if (card.card_id, code) in self.codes:
                raise SandboxError(40116, "invalid code: this code was already given to a user")
            return code
        # Weixin-generated codes are 12 digits, unique in the whole sandbox.
        while True:
            value = f"{secrets.randbelow(10**12):012d}"
            if value not in self.codes_by_value:
                return value

    def issue_from_qrcode(self: "SandboxState", ticket_or_url: str, openid: str) -> list[Code]:
        """Let ``openid`` scan a QR code from card/qrcode/create and receive its card(s).

        A QR code that names a code or an openid can be received only once.
        """
        qr = self.qrcode(ticket_or_url)
        with self.lock:
            if self.now() >= qr.expires_at:
                raise SandboxError(40053, "invalid action info: the QR code has expired")
            single_use = any(entry.get("code") or entry.get("openid") for entry in qr.entries)
            if single_use and qr.received:
                raise SandboxError(40053, "invalid action info: this QR code was already received")
            # Reserve the scan now, so two users cannot both receive a single-use code.
            qr.received += 1

        records: list[Code] = []
        try:
            for entry in qr.entries:
                records.append(self.issue_code(
                    qr.appid, entry["card_id"], openid, outer_str=entry.get("outer_str"), code=entry.get("code"),
                    bound_openid=entry.get("openid"), outer_id=entry.get("outer_id", 0),
                    source_scene="SOURCE_SCENE_QRCODE",
                ))
        except SandboxError:
            # A scan that received nothing does not use up the QR code.
            if not records:
                with self.lock:
                    qr.received -= 1
            raise
        return records

    # -- lookups -------------------------------------------------------------------------

    def find_code(self: "SandboxState", appid: str | None, code: Any, card_id: Any = None) -> Code:
        """Return a received code; ``appid`` None searches every app (for control endpoints).

        Raises 41011 (no code), 40073 (bad card_id), 41012 (custom code without card_id)
        or 40056 (unknown code).
        """
        if not code:
            raise missing("code")
        if not isinstance(code, str):
            raise data_format(f"code must be a string, got {code!r}")
        with self.lock:
            if card_id:
                self.card(card_id, appid)
                record = self.codes.get((card_id, code))
                if record is None:
                    raise SandboxError(40056, "invalid serial code")
                return record

            candidates = [r for r in self.codes_by_value.get(code, []) if appid is None or r.appid == appid]
            generated = [r for r in candidates if not self.cards[r.card_id].custom_code]
            if generated:
                return generated[0]
            if candidates:
                raise SandboxError(41012, "card_id missing: custom-code cards need card_id next to the code")
            raise SandboxError(40056, "invalid serial code")

    def user_card_status(self: "SandboxState", record: Code) -> str:
        """Return the status Weixin shows: NORMAL turns into EXPIRE after the end time."""
        if record.status == "NORMAL" and record.end_time and self.now() > record.end_time:
            return "EXPIRE"
        return record.status

    def get_code(self: "SandboxState", appid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Handle card/code/get; ``check_consume`` defaults to true."""
        check_consume = body.get("check_consume", True)
        if not isinstance(check_consume, bool):
            raise data_format(f"check_consume must be true or false, got {check_consume!r}")
        with self.lock:
            record = self.find_code(appid, body.get("code"), body.get("card_id"))
            status = self.user_card_status(record)
            can_consume = status == "NORMAL" and self.now() >= record.begin_time
        if check_consume and not can_consume:
            raise SandboxError(
                40127,
                "invalid user-card status! Hint: the card was given to user, but may be deleted or set unavailable !",
            )
        answer: dict[str, Any] = {
            "errcode": 0, "errmsg": "ok",
            "card": {"card_id": record.card_id, "begin_time": record.begin_time, "end_time": record.end_time},
            "openid": record.openid, "can_consume": can_consume, "user_card_status": status,
        }
        if record.outer_str:
            answer["outer_str"] = record.outer_str
        return answer

    def decrypt_code(self: "SandboxState", appid: str, encrypt_code: Any) -> str:
        """Handle card/code/decrypt: only the exact encrypt_code issued to this appid works (else 40075)."""
        if not encrypt_code:
            raise missing("encrypt_code")
        with self.lock:
            record = self.encrypt_index.get(encrypt_code) if isinstance(encrypt_code, str) else None
            if record is None or record.appid != appid:
                raise SandboxError(40075, "invalid encrypt code")
            return self._decrypt(encrypt_code)

    def consume_code(self: "SandboxState", appid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Handle card/code/consume and push ``user_consume_card`` with ConsumeSource FROM_API."""
        with self.lock:
            record = self.find_code(appid, body.get("code"), body.get("card_id"))
            status = self.user_card_status(record)
            if status == "CONSUMED":
                raise SandboxError(40099, "invalid code, this code has consumed.")
            if status in ("DELETE", "GIFTING", "GIFT_TIMEOUT", "UNAVAILABLE"):
                raise SandboxError(
                    40127, f"invalid user-card status! Hint: the card is {status}, not usable",
                )
            # NOTE: the errcode Weixin uses for an expired or not-yet-valid code is not documented exactly.
            if status == "EXPIRE" or self.now() < record.begin_time:
                raise SandboxError(40079, "invalid time: the code is expired or not yet valid")
            record.status = "CONSUMED"

        logger.info("sandbox consumed a code card_id=%s appid=%s", record.card_id, appid)
        self.emit(self.event(
            appid, record.openid, "user_consume_card", CardId=record.card_id, UserCardCode=record.code,
            ConsumeSource="FROM_API", LocationName="", StaffOpenId="", VerifyCode="", RemarkAmount="",
            OuterStr=str(body.get("outer_str") or ""),
        ))
        return {"errcode": 0, "errmsg": "ok", "card": {"card_id": record.card_id}, "openid": record.openid}

    def set_code_status(self: "SandboxState", code: str, status: str, card_id: str | None = None) -> Code:
        """Set a code's user_card_status (a user deleted it, it expired, ...); DELETE pushes ``user_del_card``."""
        if status not in USER_CARD_STATUSES:
            raise ValueError(f"status must be one of {', '.join(USER_CARD_STATUSES)}, got {status!r}")
        with self.lock:
            record = self.find_code(None, code, card_id)
            record.status = status
        logger.info("sandbox set code status card_id=%s status=%s", record.card_id, status)
        if status == "DELETE":
            self.emit(self.event(
                record.appid, record.openid, "user_del_card", CardId=record.card_id, UserCardCode=record.code,
            ))
        return record

    # -- deposit -------------------------------------------------------------------------

    def _code_list(self: "SandboxState", body: dict[str, Any]) -> list[Any]:
        codes = body.get("code")
        if codes is None:
            raise missing("code")
        if not isinstance(codes, list):
            raise data_format("code must be a list of strings")
        if len(codes) > MAX_CODES_PER_CALL:
            raise SandboxError(40109, f"too many codes: {len(codes)} in one request, at most {MAX_CODES_PER_CALL}")
        return codes

    def deposit_codes(self: "SandboxState", appid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Handle card/code/deposit: at most 100 codes; duplicates are filtered, not errors."""
        codes = self._code_list(body)
        with self.lock:
            card = self.card(body.get("card_id"), appid)
            # NOTE: depositing into a card without GET_CUSTOM_CODE_MODE_DEPOSIT fails in Weixin with an
            # undocumented errcode; 40078 (invalid card status) is a guess.
            if not card.deposit_mode:
                raise SandboxError(40078, "invalid card status: the card is not a GET_CUSTOM_CODE_MODE_DEPOSIT card")
            succ, duplicate, fail = [], [], []
            for code in codes:
                if not isinstance(code, str) or not _CODE.fullmatch(code):
                    fail.append(code)
                elif code in card.deposited:
                    duplicate.append(code)
                else:
                    card.deposited[code] = False
                    succ.append(code)
        logger.info("sandbox deposited %d code(s) card_id=%s duplicates=%d failed=%d",
                    len(succ), card.card_id, len(duplicate), len(fail))
        return {"errcode": 0, "errmsg": "ok", "succ_code": succ, "duplicate_code": duplicate, "fail_code": fail}

    def deposit_count(self: "SandboxState", appid: str, card_id: Any) -> int:
        """Handle card/code/getdepositcount: how many codes were deposited into the card."""
        with self.lock:
            return len(self.card(card_id, appid).deposited)

    def check_codes(self: "SandboxState", appid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Handle card/code/checkcode: which of at most 100 codes were deposited."""
        codes = self._code_list(body)
        with self.lock:
            card = self.card(body.get("card_id"), appid)
            exist = [code for code in codes if isinstance(code, str) and code in card.deposited]
            not_exist = [code for code in codes if not (isinstance(code, str) and code in card.deposited)]
        return {"errcode": 0, "errmsg": "ok", "exist_code": exist, "not_exist_code": not_exist}

    # -- custom entry --------------------------------------------------------------------

    def redirect_url(self: "SandboxState", code: str, card_id: str | None = None, base: str | None = None) -> str:
        """Return the URL Weixin opens when the user taps the card's custom entry.

        It is ``base`` (default: the card's custom_url) with ``encrypt_code``, ``card_id``
        and ``openid`` appended, plus ``outer_str`` for member cards, all percent-encoded.
        Raises ValueError when the card has no custom_url and no ``base`` was given.
        """
        with self.lock:
            record = self.find_code(None, code, card_id)
            card = self.cards[record.card_id]
            target = base or card.base_info.get("custom_url")
            if not target:
                raise ValueError(f"card {card.card_id} has no custom_url; pass a base URL")
            extra = [("encrypt_code", record.encrypt_code), ("card_id", card.card_id), ("openid", record.openid)]
            if card.card_type == "MEMBER_CARD" and record.outer_str:
                extra.append(("outer_str", record.outer_str))

        # Keep the configured query as it is and append ours, before any fragment.
        parts = urlsplit(target)
        query = f"{parts.query}&{urlencode(extra)}" if parts.query else urlencode(extra)
        return urlunsplit(parts._replace(query=query))
