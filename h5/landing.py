"""The landing page, its card_ext list for ``wx.addCard`` and the ``wx.config`` signature.

* ``GET /cards/{campaign}?outer_str=S`` renders the page for the client class of the
  user agent (``h5.useragent``) in its language.
* ``GET /cards/{campaign}/card-ext?outer_str=S`` returns ``{"cardList": [...]}``, the
  argument of ``wx.addCard``, freshly signed with the wx_card api_ticket.
* ``GET /jssdk/config?url=U`` returns the ``wx.config`` fields for the page URL ``U``.

At start-up every campaign card is checked with ``card/get`` in the background and one
line per card is logged, so an unreachable Weixin never delays or stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import segno
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from h5 import useragent
from h5.campaign_check import APPROVED, IN_REVIEW, CardCheck, CardChecker, check_campaigns
from h5.campaigns import Campaign
from h5.context import AppContext
from h5.errors import WeixinError
from h5.i18n import translate
from h5.landing_texts import PAGE, SCRIPT
from h5.store import STORE_ERRORS
from h5.weixin_types import CardInfo
from signer import build_card_ext, config_signature, make_nonce

logger = logging.getLogger(__name__)

# outer_str is echoed by Weixin as OuterStr in the user_get_card push; this project keeps
# it to URL-safe characters so that it survives every hop unescaped.
OUTER_STR = re.compile(r"[A-Za-z0-9_.-]{1,128}")
MAX_PAGE_URL = 2048
JS_API_LIST = ["addCard"]
RETRY_AFTER_SECONDS = 30
STARTUP_CHECK_TIMEOUT = 10.0

# Hex values of Weixin's card colour names, from card/getcolors. card/get normally
# returns the hex already, but a name is accepted too.
COLOR_NAMES = {
    "Color010": "#63b359",
    "Color020": "#2c9f67",
    "Color030": "#509fc9",
    "Color040": "#5885cf",
    "Color050": "#9062c0",
    "Color060": "#d09a45",
    "Color070": "#e4b138",
    "Color080": "#ee903c",
    "Color081": "#f08500",
    "Color082": "#a9d92d",
    "Color090": "#dd6549",
    "Color100": "#cc463d",
    "Color101": "#cf3e36",
    "Color102": "#5e6671",
}
DEFAULT_COLOR = COLOR_NAMES["Color010"]
_HEX_COLOR = re.compile(r"#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})")

# Card states that still let someone add the card: everyone, or whitelisted testers.
_ADDABLE_STATES = (APPROVED, IN_REVIEW)
# When cards of one campaign differ, the page shows the state that blocks the most.
_STATE_ORDER = ("unreachable", "error", "not_found", "deleted", "rejected", IN_REVIEW, APPROVED)

_background: dict[int, asyncio.Task[None]] = {}


# -- checks shared by the routes -----------------------------------------------------------


def outer_str_problem(values: list[str]) -> str | None:
    """Return why the query's outer_str values are invalid, or ``None`` if they are fine."""
    if len(values) > 1:
        return f"outer_str is given {len(values)} times; give it once"
    if values and values[0] and not OUTER_STR.fullmatch(values[0]):
        return "outer_str must be 1 to 128 characters from A-Z, a-z, 0-9, '_', '.' and '-'"
    return None


def page_url_problem(url: str, public_hosts: tuple[str, ...]) -> str | None:
    """Return why ``url`` may not be signed, or ``None`` if its host is a public host.

    An entry of ``public_hosts`` without a port matches the host on any port, so one
    entry covers a development server on a high port. An entry ``host:port`` matches
    only that port, with 80 and 443 standing for URLs that name no port.
    """
    if len(url) > MAX_PAGE_URL:
        return f"url is {len(url)} characters long; at most {MAX_PAGE_URL} are accepted"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"url {url[:200]!r} is not an absolute http(s) URL; send location.href.split('#')[0]"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return f"url {url[:200]!r} has an invalid port"

    host = parts.hostname.lower()
    for entry in public_hosts:
        name, _, entry_port = entry.partition(":")
        if name == host and (not entry_port or int(entry_port) == port):
            return None
    return f"host {host!r} is not in WXCARD_PUBLIC_HOSTS; add it there if it is a registered JS secure domain"


def _error_json(status_code: int, error: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status_code, headers=headers)


def _weixin_unavailable(exc: Exception, what: str) -> JSONResponse:
    # The message names the failed step only: exceptions of the client never carry tokens,
    # but a generic text keeps internal details out of a public response.
    logger.warning("%s failed, returning 503: %s", what, exc)
    return _error_json(
        503,
        "weixin_unavailable",
        f"Weixin did not return the {what}; try again in {RETRY_AFTER_SECONDS} s",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
    )


def _store_unavailable(exc: Exception, what: str) -> JSONResponse:
    # The exception text may name the database; the response names only the failed step.
    logger.error("reading the %s from the store failed, returning 503: %s: %s", what, type(exc).__name__, exc)
    return _error_json(
        503,
        "store_unavailable",
        f"the {what} could not be read from the store; try again in {RETRY_AFTER_SECONDS} s",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
    )


def _checker(request: Request) -> CardChecker:
    checker = getattr(request.app.state, "card_checker", None)
    if checker is None:
        checker = CardChecker(request.app.state.ctx)
        request.app.state.card_checker = checker
    return checker


# -- JSON endpoints ------------------------------------------------------------------------


async def jssdk_config(request: Request) -> Response:
    """Return the ``wx.config`` fields for the page URL in ``url``, cut at ``#``.

    Starlette decodes the query once. The page sends ``encodeURIComponent(url)``, so the
    value here is the URL as the browser shows it, percent-escapes included, which is
    what the Weixin client checks the signature against.
    """
    ctx: AppContext = request.app.state.ctx
    urls = request.query_params.getlist("url")
    if len(urls) != 1 or not urls[0]:
        return _error_json(400, "invalid_url", "give the page URL once as ?url=encodeURIComponent(location.href.split('#')[0])")
    page_url = urls[0]

    problem = page_url_problem(page_url, ctx.settings.public_hosts)
    if problem:
        logger.info("jssdk config rejected: %s", problem)
        return _error_json(400, "invalid_url", problem)

    try:
        ticket = await ctx.client.jsapi_ticket()
    except (WeixinError, TimeoutError) as exc:
        return _weixin_unavailable(exc, "jsapi_ticket")
    except STORE_ERRORS as exc:
        return _store_unavailable(exc, "jsapi_ticket")

    timestamp = str(int(time.time()))
    nonce = make_nonce()
    body = {
        "appId": ctx.settings.appid,
        "timestamp": int(timestamp),
        "nonceStr": nonce,
        "signature": config_signature(ticket.value, nonce, timestamp, page_url),
        "jsApiList": JS_API_LIST,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def card_ext(request: Request) -> Response:
    """Return ``{"cardList": [{"cardId", "cardExt"}, ...]}`` for every card of the campaign, in order.

    Each request gets a fresh timestamp, and each card its own nonce, because Weixin
    rejects a card_ext whose timestamp and nonce_str were used before.
    """
    ctx: AppContext = request.app.state.ctx
    name = request.path_params["campaign"]
    campaign = ctx.campaigns.get(name)
    if campaign is None:
        return _error_json(404, "campaign_not_found", f"campaign {name[:64]!r} is not in the campaign file")

    outer_values = request.query_params.getlist("outer_str")
    problem = outer_str_problem(outer_values)
    if problem:
        return _error_json(400, "invalid_outer_str", problem)
    outer_str = outer_values[0] if outer_values and outer_values[0] else None

    try:
        ticket = await ctx.client.wx_card_ticket()
    except (WeixinError, TimeoutError) as exc:
        return _weixin_unavailable(exc, "wx_card api_ticket")
    except STORE_ERRORS as exc:
        return _store_unavailable(exc, "wx_card api_ticket")

    timestamp = str(int(time.time()))
    card_list = [
        build_card_ext(ticket.value, card_id, timestamp, make_nonce(), outer_str=outer_str).as_js()
        for card_id in campaign.cards
    ]
    logger.info("card_ext signed campaign=%s cards=%d outer_str=%s", name, len(card_list), outer_str or "-")
    return JSONResponse({"cardList": card_list}, headers={"Cache-Control": "no-store"})


# -- the page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardView:
    """The fields of one card that the page shows."""

    card_id: str
    state: str
    title: str
    brand_name: str
    logo_url: str
    logo_alt: str
    color: str


def card_color(value: str) -> str:
    """Return a CSS hex colour for a ``card/get`` colour, which is a hex value or a name like ``Color010``."""
    if _HEX_COLOR.fullmatch(value):
        return value
    return COLOR_NAMES.get(value, DEFAULT_COLOR)


def _card_view(check: CardCheck, info: CardInfo | None, texts: dict[str, str]) -> CardView:
    title = info.title if info and info.title else texts["card_fallback_title"]
    brand = info.brand_name if info else ""
    logo = info.logo_url if info and info.logo_url.startswith(("https://", "http://")) else ""
    return CardView(
        card_id=check.card_id,
        state=check.state,
        title=title,
        brand_name=brand,
        logo_url=logo,
        logo_alt=texts["logo_alt"].format(brand=brand or title),
        color=card_color(info.color if info else ""),
    )


def overall_state(checks: list[CardCheck]) -> str:
    """Return the state of the campaign: the most blocking state among its cards."""
    states = {check.state for check in checks}
    for state in _STATE_ORDER:
        if state in states:
            return state
    return APPROVED


def page_state(client_class: str, card_state: str) -> str:
    """Return the initial ``data-state`` of ``<body>``; ``static/landing.js`` moves it on."""
    if client_class != useragent.WEIXIN:
        return "idle"
    if card_state in _ADDABLE_STATES:
        return "loading"
    return "unavailable"


def qr_svg(url: str) -> Markup | None:
    """Return an inline SVG QR code for ``url``, drawn here so the page needs no image service.

    Return ``None`` when the URL is too long for any QR code (about 2,300 bytes at level M).
    """
    try:
        qr = segno.make(url, error="m")
    except segno.DataOverflowError:
        logger.info("page url of %d characters is too long for a QR code; showing the link only", len(url))
        return None
    return Markup(qr.svg_inline(scale=4, border=2, dark="#111", light="#fff", omitsize=True))


def _render(request: Request, template: str, status_code: int, **values: object) -> HTMLResponse:
    ctx: AppContext = request.app.state.ctx
    html = ctx.templates.get_template(template).render(
        css_url=request.url_for("static", path="landing.css").path,
        **values,
    )
    # The page differs per client class and language, both taken from the User-Agent.
    headers = {"Vary": "User-Agent", "Cache-Control": "no-cache"}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def _error_page(request: Request, client: useragent.ClientInfo, status_code: int, error: str, title: str, message: str) -> HTMLResponse:
    texts = translate(PAGE, client.language)
    return _render(
        request,
        "landing_error.html",
        status_code,
        t=texts,
        lang=client.language,
        client=client.client_class,
        error=error,
        title=texts[title],
        message=message,
    )


def _client_notice(client: useragent.ClientInfo, texts: dict[str, str]) -> str:
    if client.client_class == useragent.BROWSER and client.mobile:
        return texts["client_browser_mobile"]
    return texts.get(f"client_{client.client_class}", "")


async def landing_page(request: Request) -> Response:
    """Render the landing page of a campaign for the client class of the user agent."""
    ctx: AppContext = request.app.state.ctx
    client = useragent.classify(request.headers.get("user-agent"))
    texts = translate(PAGE, client.language)

    name = request.path_params["campaign"]
    campaign = ctx.campaigns.get(name)
    if campaign is None:
        logger.info("landing page for unknown campaign=%r", name[:64])
        message = texts["not_found_body"].format(campaign=name[:64])
        return _error_page(request, client, 404, "campaign-not-found", "not_found_title", message)

    outer_values = request.query_params.getlist("outer_str")
    problem = outer_str_problem(outer_values)
    if problem:
        logger.info("landing page campaign=%s rejected: %s", name, problem)
        return _error_page(request, client, 400, "invalid-outer-str", "bad_request_title", texts["bad_outer_str"])
    outer_str = outer_values[0] if outer_values else ""

    return await _landing(request, ctx, campaign, client, texts, outer_str)


async def _landing(
    request: Request,
    ctx: AppContext,
    campaign: Campaign,
    client: useragent.ClientInfo,
    texts: dict[str, str],
    outer_str: str,
) -> Response:
    checker = _checker(request)
    results = await asyncio.gather(*(checker.check(campaign.name, card_id) for card_id in campaign.cards))
    cards = [_card_view(check, info, texts) for check, info in results]
    card_state = overall_state([check for check, _ in results])

    page_url = str(request.url)
    needs_qr = client.client_class in (useragent.WEIXIN_DESKTOP, useragent.WECOM, useragent.BROWSER, useragent.MINI_PROGRAM)
    page_qr = qr_svg(page_url) if needs_qr else None
    show_link = client.client_class in (useragent.WECOM, useragent.MINI_PROGRAM) or (
        client.client_class == useragent.BROWSER and client.mobile
    )
    if needs_qr and page_qr is None:
        # A URL too long for a QR code is shown as a link, so the user can still copy it.
        show_link = True
    button_label = texts["add_button_whitelist"] if card_state == IN_REVIEW else texts["add_button"]

    return _render(
        request,
        "landing.html",
        200,
        t=texts,
        lang=client.language,
        client=client.client_class,
        campaign=campaign.name,
        card_state=card_state,
        page_state=page_state(client.client_class, card_state),
        outer_str=outer_str,
        config_url=request.url_for("jssdk_config").path,
        card_ext_url=request.url_for("card_ext", campaign=campaign.name).path,
        jssdk_url=ctx.settings.jssdk_url,
        script_url=request.url_for("static", path="landing.js").path,
        script_messages=translate(SCRIPT, client.language),
        cards=cards,
        card_notice=texts.get(f"card_{card_state}", "") if card_state != APPROVED else "",
        show_button=card_state in _ADDABLE_STATES,
        button_label=button_label,
        client_notice=_client_notice(client, texts),
        qr_svg=page_qr,
        show_link=show_link,
        page_url=page_url,
    )


# -- start-up check ------------------------------------------------------------------------


async def log_campaign_checks(ctx: AppContext, timeout: float = STARTUP_CHECK_TIMEOUT) -> None:
    """Log one line per campaign card with its state.

    Every error except cancellation is caught and logged, so the check cannot stop the server.
    """
    try:
        checks = await asyncio.wait_for(check_campaigns(ctx), timeout)
    except asyncio.TimeoutError:
        logger.warning("campaign check timed out after %.0f s; run `wxcard campaigns` to see the card states", timeout)
        return
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed check must not stop the server
        logger.warning("campaign check failed: %s: %s", type(exc).__name__, exc)
        return

    for check in checks:
        level = logging.INFO if check.addable else logging.WARNING
        logger.log(level, "campaign=%s card_id=%s state=%s detail=%s", check.campaign, check.card_id, check.state, check.detail)


async def startup(ctx: AppContext) -> None:
    """Start the campaign check in the background, so start-up does not wait for Weixin."""
    _background[id(ctx)] = asyncio.create_task(log_campaign_checks(ctx), name="campaign-check")


async def shutdown(ctx: AppContext) -> None:
    """Cancel the start-up check if it is still running."""
    task = _background.pop(id(ctx), None)
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


routes = [
    Route("/cards/{campaign}", landing_page, name="landing_page"),
    Route("/cards/{campaign}/card-ext", card_ext, name="card_ext"),
    Route("/jssdk/config", jssdk_config, name="jssdk_config"),
]
