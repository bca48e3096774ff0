"""The custom-entry redirect: ``GET /cards/redirect`` turns an encrypt_code into a verified coupon.

Weixin opens a card's custom URL with ``encrypt_code`` and ``card_id`` appended, plus
``openid`` and, for member cards, ``outer_str``. Only the encrypt_code is protected by
Weixin, so the handler decrypts it, reads the owner and state of the code with
``card/code/get``, and checks the rest of the query against that response. A usable coupon is handed
over to the campaign's ``redirect_to`` in an encrypted, signed token, or shown on our own
page when no ``redirect_to`` is configured.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from h5 import handoff, merchant_api
from h5.campaigns import Campaign, campaign_for_card
from h5.context import AppContext
from h5.encrypt_code import InvalidEncryptCode, encrypt_code_from_query
from h5.errors import (
    CodeNotFoundError,
    CodeUnavailableError,
    InvalidCardError,
    InvalidEncryptCodeError,
    QuotaError,
    SystemBusyError,
    WeixinAPIError,
    WeixinError,
    WeixinTransportError,
)
from h5.redirect_pages import ALLOWED_METHODS, PRIVATE_HEADERS, CardLook, coupon_page, error_page, status_page
from h5.weixin_types import CodeInfo

logger = logging.getLogger(__name__)

_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")

UNUSABLE_STATUSES = {"CONSUMED", "EXPIRE", "DELETE", "UNAVAILABLE", "GIFTING", "GIFT_TIMEOUT"}


class Rejected(Exception):
    """Ends a redirect request with the error page of ``kind``; ``reason`` goes to the log."""

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind}: {reason}")


@dataclass(frozen=True)
class RedirectQuery:
    """The query of a custom-entry URL; only ``encrypt_code`` is protected by Weixin."""

    encrypt_code: str
    card_id: str
    openid: str
    campaign: str | None


def mask_openid(openid: str) -> str:
    """Return ``openid`` with all but its first and last four characters hidden, for logs."""
    if len(openid) <= 8:
        return "***"
    return f"{openid[:4]}***{openid[-4:]}"


def read_query(request: Request) -> RedirectQuery:
    """Read and check the query; the encrypt_code comes from the raw query string, which keeps '+'."""
    try:
        encrypt_code = encrypt_code_from_query(request.scope.get("query_string", b""))
    except InvalidEncryptCode as exc:
        raise Rejected("bad_link", str(exc)) from None

    params = request.query_params
    card_id = params.get("card_id", "")
    openid = params.get("openid", "")
    if not handoff.CARD_ID_PATTERN.fullmatch(card_id):
        raise Rejected("bad_link", f"card_id {card_id[:40]!r} is missing or not a card_id")
    if not _OPENID.fullmatch(openid):
        raise Rejected("bad_link", f"openid of {len(openid)} characters is missing or not an openid")
    return RedirectQuery(encrypt_code, card_id, openid, params.get("campaign") or None)


async def verified_code(ctx: AppContext, query: RedirectQuery) -> tuple[str, CodeInfo]:
    """Decrypt the code and return it with its ``card/code/get`` response, after the ownership checks."""
    code = await ctx.client.decrypt_code(query.encrypt_code)

    # Weixin can return errcode 0 with garbage for a mangled encrypt_code.
    if not handoff.CODE_PATTERN.fullmatch(code):
        raise Rejected("invalid_code", f"card/code/decrypt returned a value of {len(code)} characters that is not a code")

    try:
        info = await ctx.client.get_code(code, card_id=query.card_id, check_consume=False)
    except (CodeNotFoundError, InvalidCardError):
        await reject_other_card(ctx, code, query.card_id)
        raise
    if info.card_id != query.card_id:
        raise Rejected("wrong_card", f"the code belongs to card_id={info.card_id}, not to the query's card_id={query.card_id}")

    # Weixin does not sign the openid in the URL, so only the owner from card/code/get counts.
    if not hmac.compare_digest(info.openid.encode(), query.openid.encode()):
        raise Rejected(
            "wrong_owner",
            f"the code's owner openid={mask_openid(info.openid)} differs from the query's openid={mask_openid(query.openid)}",
        )
    return code, info


async def reject_other_card(ctx: AppContext, code: str, card_id: str) -> None:
    """Raise ``Rejected("wrong_card")`` when the code exists under a card other than ``card_id``.

    Weixin returns 40056 or 40073 for a code requested under the wrong card. The code was
    just decrypted, so it exists. A second request without card_id distinguishes an edited
    card_id from a code that was given away. Custom-code cards need card_id, so for them the
    second request fails and the caller's 40056 is kept.
    """
    try:
        info = await ctx.client.get_code(code, check_consume=False)
    except WeixinAPIError:
        return
    if info.card_id and info.card_id != card_id:
        raise Rejected("wrong_card", f"the code belongs to card_id={info.card_id}, not to the query's card_id={card_id}")


def handoff_url(campaign: Campaign, token: str) -> str:
    """Return ``redirect_to`` of ``campaign`` with the hand-over token as its ``handoff`` parameter.

    The target comes from the campaign file only, so no request can turn this into an open redirect.
    """
    assert campaign.redirect_to is not None
    parts = urlsplit(campaign.redirect_to)
    query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != handoff.TOKEN_PARAMETER]
    query.append((handoff.TOKEN_PARAMETER, token))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


async def hand_over(ctx: AppContext, request: Request, query: RedirectQuery, code: str, info: CodeInfo) -> Response:
    """Redirect a usable coupon to its campaign's merchant page, or show it on our own page."""
    campaign = campaign_for_card(ctx.campaigns, query.card_id, query.campaign)
    if campaign is None or campaign.redirect_to is None:
        look = await card_look(ctx, query.card_id)
        logger.info("redirect showing coupon page card_id=%s openid=%s", query.card_id, mask_openid(info.openid))
        return coupon_page(ctx, request, query.card_id, code, look, info.user_card_status)

    # outer_str comes from card/code/get only, because the one in the URL is not signed.
    try:
        token = handoff.issue(
            query.card_id, code, info.openid, info.outer_str, info.user_card_status,
            secret_key=ctx.settings.secret_key,
        )
    except handoff.HandoffError as exc:
        raise Rejected("not_configured", str(exc)) from None

    logger.info(
        "redirect handed over card_id=%s openid=%s campaign=%s", query.card_id, mask_openid(info.openid), campaign.name
    )
    return RedirectResponse(handoff_url(campaign, token), status_code=303, headers=PRIVATE_HEADERS)


async def card_look(ctx: AppContext, card_id: str) -> CardLook:
    """Return what the pages show of the card, or an empty look when ``card/get`` fails."""
    try:
        info = await ctx.card_info(card_id)
    except WeixinError as exc:
        logger.warning("redirect could not read card/get card_id=%s: %s", card_id, exc)
        return CardLook()
    return CardLook.from_card(info)


async def process(ctx: AppContext, request: Request) -> Response:
    """Run the checks of one redirect request; every rejection raises ``Rejected`` or a ``WeixinError``."""
    query = read_query(request)
    code, info = await verified_code(ctx, query)

    status = info.user_card_status
    if status != "NORMAL" or info.raw.get("can_consume") is False:
        shown = status
        if status == "NORMAL":
            shown = "NOT_CONSUMABLE"
        elif status not in UNUSABLE_STATUSES:
            shown = "OTHER"
        logger.info("redirect coupon not usable card_id=%s openid=%s status=%s", query.card_id, mask_openid(info.openid), status)
        return status_page(ctx, request, query.card_id, shown, await card_look(ctx, query.card_id))

    return await hand_over(ctx, request, query, code, info)


def weixin_error_kind(exc: WeixinError) -> str:
    """Return the error page kind for a Weixin failure during the checks."""
    if isinstance(exc, (WeixinTransportError, SystemBusyError, QuotaError)):
        return "busy"
    if isinstance(exc, InvalidEncryptCodeError):
        return "invalid_code"
    if isinstance(exc, CodeNotFoundError):
        return "not_found"
    if isinstance(exc, InvalidCardError):
        return "wrong_card"
    return "weixin_failed"


async def redirect(request: Request) -> Response:
    """Handle ``GET /cards/redirect``; every outcome is a page or a 303, never a traceback."""
    ctx: AppContext = request.app.state.ctx
    if request.method not in ALLOWED_METHODS:
        logger.warning("redirect rejected method=%s", request.method)
        return error_page(ctx, request, "method_not_allowed")

    try:
        return await process(ctx, request)
    except Rejected as exc:
        logger.warning("redirect rejected kind=%s: %s", exc.kind, exc.reason)
        return error_page(ctx, request, exc.kind)
    except CodeUnavailableError as exc:
        # Only check_consume=true returns 40127, but it names a status, so show that status.
        logger.info("redirect coupon unavailable: %s", exc)
        return status_page(ctx, request, request.query_params.get("card_id", ""), "UNAVAILABLE", CardLook())
    except WeixinError as exc:
        kind = weixin_error_kind(exc)
        errcode = exc.errcode if isinstance(exc, WeixinAPIError) else None
        logger.warning("redirect failed kind=%s errcode=%s path=%s: %s", kind, errcode, exc.path, exc)
        return error_page(ctx, request, kind)
    except Exception:
        # A traceback goes to the log only; the user gets a page.
        logger.exception("redirect failed with an unexpected error")
        return error_page(ctx, request, "internal")


# The handler receives every standard method, and the path with a trailing slash as well.
# Starlette would otherwise respond to both without Referrer-Policy, and its 307 for the slash
# builds the target URL, encrypt_code included, from the request's Host header.
_ROUTE_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

routes = [
    Route("/cards/redirect", redirect, methods=_ROUTE_METHODS),
    Route("/cards/redirect/", redirect, methods=_ROUTE_METHODS),
    *merchant_api.routes,
]
