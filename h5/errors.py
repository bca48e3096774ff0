"""Exceptions of the Weixin API client.

Callers catch precisely: ``WeixinTransportError`` when Weixin could not be reached,
``WeixinAPIError`` and its subclasses when Weixin returned an errcode. No exception
carries the access_token: ``path`` is the API path without its query string.
"""

from __future__ import annotations


class WeixinError(Exception):
    """Base of every error raised while talking to Weixin."""

    def __init__(self, message: str, path: str) -> None:
        self.path = path
        super().__init__(message)


class WeixinTransportError(WeixinError):
    """Weixin could not be reached, timed out, or returned something that is not JSON."""

    def __init__(self, path: str, host: str, cause: str) -> None:
        self.host = host
        self.cause = cause
        super().__init__(f"{path}: request to {host} failed: {cause}", path)


class WeixinAPIError(WeixinError):
    """Weixin returned a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str, path: str) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        super().__init__(f"{path}: errcode {errcode}: {errmsg}", path)


class TokenInvalidError(WeixinAPIError):
    """The access_token is invalid, expired or missing (40001, 40014, 42001, 41001)."""


class SystemBusyError(WeixinAPIError):
    """Weixin is busy (-1); the same request may succeed later."""


class QuotaError(WeixinAPIError):
    """A daily or per-minute API quota is used up (45009, 45011)."""


class CredentialError(WeixinAPIError):
    """The appid, appsecret or caller IP is not accepted (40013, 40125, 40164, 40243, 41002, 41004)."""


class APIPermissionError(WeixinAPIError):
    """The account may not call this API or use this card (48001, 45030, 40078)."""


class CardError(WeixinAPIError):
    """A card or code request was rejected (invalid card_id, code, encrypt_code, card_ext, ...)."""


class InvalidCardError(CardError):
    """The card_id is unknown to this appid (40073)."""


class CodeNotFoundError(CardError):
    """The code is unknown, not yet received, or transferred away (40056)."""


class CodeConsumedError(CardError):
    """The code was already consumed (40099)."""


class InvalidEncryptCodeError(CardError):
    """The encrypt_code could not be decrypted (40075)."""


class CodeUnavailableError(CardError):
    """The user deleted the card, is gifting it, or it is unavailable (40127)."""


class RequestInvalidError(WeixinAPIError):
    """The request body was rejected: a field is missing, too long or malformed."""


_TOKEN_CODES = {40001, 40014, 42001, 41001}
_BY_CODE: dict[int, type[WeixinAPIError]] = {
    -1: SystemBusyError,
    45009: QuotaError,
    45011: QuotaError,
    40013: CredentialError,
    40125: CredentialError,
    40164: CredentialError,
    40243: CredentialError,
    41002: CredentialError,
    41004: CredentialError,
    48001: APIPermissionError,
    45030: APIPermissionError,
    40078: APIPermissionError,
    40073: InvalidCardError,
    40056: CodeNotFoundError,
    40099: CodeConsumedError,
    40075: InvalidEncryptCodeError,
    40127: CodeUnavailableError,
    41011: RequestInvalidError,
    45021: RequestInvalidError,
    40009: RequestInvalidError,
    41005: RequestInvalidError,
    40109: RequestInvalidError,
    40079: RequestInvalidError,
    40100: RequestInvalidError,
    40003: RequestInvalidError,
    40053: RequestInvalidError,
}
_CARD_CODES = {40071, 40072, 40080, 40116, 40122, 40124, 45031, 45033, 43009, 43010, 41012}


def error_for(errcode: int, errmsg: str, path: str) -> WeixinAPIError:
    """Return the most specific exception for a Weixin errcode."""
    if errcode in _TOKEN_CODES:
        return TokenInvalidError(errcode, errmsg, path)
    if errcode in _CARD_CODES:
        return CardError(errcode, errmsg, path)
    return _BY_CODE.get(errcode, WeixinAPIError)(errcode, errmsg, path)
