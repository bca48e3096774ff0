"""Weixin-style errors raised by the sandbox state and returned as errcode responses."""

from __future__ import annotations

import secrets
import string

_HINT_ALPHABET = string.ascii_letters + string.digits


def hint() -> str:
    """Return a random request hint shaped like Weixin's, e.g. ``hint: [Na1y7a0585ent3]``."""
    return "hint: [" + "".join(secrets.choice(_HINT_ALPHABET) for _ in range(14)) + "]"


class SandboxError(Exception):
    """A rejected call, with Weixin's errcode and message text (``answer`` adds the hint)."""

    def __init__(self, errcode: int, errmsg: str, field: str | None = None) -> None:
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        # Weixin names a missing or oversized field after the hint, e.g.
        # "missing required fields! ... hint: [DbUV3a0983ent1] m_data.base_info().title".
        self.field = field

    def answer(self) -> dict[str, object]:
        """Return the JSON object Weixin sends for this error."""
        text = f"{self.errmsg} {hint()}"
        if self.field:
            text = f"{text} {self.field}"
        return {"errcode": self.errcode, "errmsg": text}


def missing(field: str) -> SandboxError:
    """Return the 41011 error for a missing required field, named as Weixin names it."""
    return SandboxError(41011, "missing required fields! please check document and request json!", field)


def too_long(field: str, size: int, limit: int) -> SandboxError:
    """Return the 45021 error for a string field over its byte limit."""
    return SandboxError(45021, f"field size out of limit: {size} bytes, limit {limit} bytes", field)


def data_format(detail: str) -> SandboxError:
    """Return the 47001 error Weixin sends for a body that is not the expected JSON."""
    return SandboxError(47001, f"data format error: {detail}")
