"""The merchant's backend API: verify a hand-over token and consume a code.

``POST /cards/handoff/verify`` takes ``{"token": ...}`` and returns the hand-over.
``POST /cards/consume`` takes ``{"token": ...}`` or ``{"code": ..., "card_id": ...}`` and
calls ``card/code/consume``; a code that is already consumed returns
``{"result": "already_consumed"}`` with status 200, so a retried consume is safe.

Both require ``Authorization: Bearer <WXCARD_MERCHANT_KEY>``.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from h5 import handoff
from h5.context import AppContext
from h5.errors import (
    CodeConsumedError,
    CodeNotFoundError,
    CodeUnavailableError,
    InvalidCardError,
    QuotaError,
    SystemBusyError,
    WeixinAPIError,
    WeixinTransportError,
)
from h5.redirect_pages import RETRY_AFTER_SECONDS

logger = logging.getLogger(__name__)

_MAX_BODY = 16 * 1024
_NO_STORE = {"Cache-Control": "no-store"}


class APIError(Exception):
    """Ends a merchant API request with ``status_code`` and ``{"error": error, "message": message}``."""

    def __init__(self, status_code: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.error = error
        self.message = message
        self.headers = headers or {}
        super().__init__(f"{error}: {message}")

    def response(self) -> JSONResponse:
        body = {"error": self.error, "message": self.message}
        return JSONResponse(body, status_code=self.status_code, headers={**_NO_STORE, **self.headers})


def check_merchant_key(ctx: AppContext, request: Request) -> None:
    """Raise ``APIError`` unless the request carries the merchant key as a bearer token."""
    expected = ctx.settings.merchant_key
    if not expected:
        raise APIError(503, "not_configured", "WXCARD_MERCHANT_KEY is not set; set it to a random secret and send it as 'Authorization: Bearer <key>'")

    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # compare_digest keeps the comparison time independent of where the keys differ.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise APIError(401, "unauthorized", "send 'Authorization: Bearer <WXCARD_MERCHANT_KEY>'", {"WWW-Authenticate": "Bearer"})


async def json_object(request: Request) -> dict[str, Any]:
    """Return the request body as a JSON object, or raise a 400 ``APIError``."""
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise APIError(413, "body_too_large", f"the body is {len(body)} bytes; at most {_MAX_BODY} are accepted")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise APIError(400, "invalid_json", "the body must be a JSON object such as {\"token\": \"...\"}") from None
    if not isinstance(data, dict):
        raise APIError(400, "invalid_json", "the body must be a JSON object such as {\"token\": \"...\"}")
    return data


def verify_token(ctx: AppContext, token: Any) -> handoff.Handoff:
    """Return the hand-over in ``token`` or raise 400 (invalid), 410 (expired) or 503 (no secret key)."""
    if not isinstance(token, str) or not token:
        raise APIError(400, "missing_token", "send {\"token\": \"...\"} with the handoff parameter the merchant page received")
    try:
        return handoff.verify(token, secret_key=ctx.settings.secret_key, max_age=ctx.settings.handoff_max_age)
    except handoff.HandoffExpired as exc:
        raise APIError(410, "expired_token", str(exc)) from None
    except handoff.HandoffInvalid as exc:
        raise APIError(400, "invalid_token", str(exc)) from None
    except handoff.HandoffError as exc:
        raise APIError(503, "not_configured", str(exc)) from None


async def verify_endpoint(request: Request) -> JSONResponse:
    """Handle ``POST /cards/handoff/verify``: return the verified hand-over as JSON."""
    ctx: AppContext = request.app.state.ctx
    try:
        check_merchant_key(ctx, request)
        data = await json_object(request)
        result = verify_token(ctx, data.get("token"))
    except APIError as exc:
        logger.warning("handoff verify rejected status=%d error=%s", exc.status_code, exc.error)
        return exc.response()

    logger.info("handoff verified card_id=%s status=%s issued_at=%d", result.card_id, result.status, result.issued_at)
    return JSONResponse(result.to_json(), headers=_NO_STORE)


def code_to_consume(ctx: AppContext, data: dict[str, Any]) -> tuple[str, str]:
    """Return ``(code, card_id)`` from a token or from explicit fields, checking their shape."""
    if "token" in data:
        result = verify_token(ctx, data["token"])
        return result.code, result.card_id

    code, card_id = data.get("code"), data.get("card_id")
    if not isinstance(code, str) or not handoff.CODE_PATTERN.fullmatch(code):
        raise APIError(400, "invalid_code", "send {\"token\": ...} or {\"code\": ..., \"card_id\": ...}; code is 1-20 printable ASCII characters")
    if not isinstance(card_id, str) or not handoff.CARD_ID_PATTERN.fullmatch(card_id):
        raise APIError(400, "invalid_card_id", "card_id is required with code; it is up to 32 letters, digits, '_' or '-'")
    return code, card_id


async def consume(ctx: AppContext, code: str, card_id: str) -> JSONResponse:
    """Call ``card/code/consume`` and map its outcome; a repeated consume returns ``already_consumed``."""
    try:
        result = await ctx.client.consume_code(code, card_id)
    except CodeConsumedError:
        logger.info("consume found the code already consumed card_id=%s", card_id)
        return JSONResponse({"result": "already_consumed", "card_id": card_id}, headers=_NO_STORE)
    except CodeNotFoundError:
        raise APIError(404, "code_not_found", "Weixin has no such code for this card_id (40056); check the code and card_id") from None
    except CodeUnavailableError:
        raise APIError(409, "code_unavailable", "the coupon was deleted, is being given away or is unavailable (40127)") from None
    except InvalidCardError:
        raise APIError(400, "invalid_card_id", "Weixin rejected the card_id as invalid for this appid (40073); check the card_id") from None
    except (WeixinTransportError, SystemBusyError, QuotaError) as exc:
        logger.warning("consume could not reach Weixin card_id=%s: %s", card_id, exc)
        raise APIError(503, "weixin_unavailable", "Weixin is unreachable or busy; retry later", {"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
    except WeixinAPIError as exc:
        raise APIError(502, "weixin_error", f"Weixin rejected the consume with errcode {exc.errcode}: {exc.errmsg}") from None

    logger.info("consumed card_id=%s", card_id)
    body = {"result": "consumed", "card_id": result.card_id or card_id, "openid": result.openid}
    return JSONResponse(body, headers=_NO_STORE)


async def consume_endpoint(request: Request) -> JSONResponse:
    """Handle ``POST /cards/consume``."""
    ctx: AppContext = request.app.state.ctx
    try:
        check_merchant_key(ctx, request)
        code, card_id = code_to_consume(ctx, await json_object(request))
        return await consume(ctx, code, card_id)
    except APIError as exc:
        logger.warning("consume rejected status=%d error=%s", exc.status_code, exc.error)
        return exc.response()
    except Exception:
        # A malformed Weixin response, for one, still gets a JSON error that the merchant can parse.
        # The traceback goes to the log only. A retry is safe because a repeated consume returns already_consumed.
        logger.exception("consume failed with an unexpected error")
        return APIError(500, "internal_error", "the consume failed unexpectedly; retry, and check the backend log if it fails again").response()


routes = [
    Route("/cards/handoff/verify", verify_endpoint, methods=["POST"]),
    Route("/cards/consume", consume_endpoint, methods=["POST"]),
]
