"""Pages of the custom-entry redirect: errors, unusable coupons and our own "use this coupon" page.

Every page is Simplified Chinese unless the Weixin user agent shows that the client is in
English. Every response carries ``Referrer-Policy: no-referrer``, because the URL of the
request contains the encrypt_code, and ``Cache-Control: no-store``, because the page may
show a code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from h5.context import AppContext
from h5.coupon_images import barcode_svg, qr_code_svg
from h5.i18n import page_language, translate
from h5.weixin_types import CardInfo

PRIVATE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

# The methods the redirect handler serves; a 405 page lists them in ``Allow``.
ALLOWED_METHODS = ("GET", "HEAD")

# Seconds a client should wait before retrying when Weixin is unreachable or busy.
RETRY_AFTER_SECONDS = 10

COMMON_TEXTS = {
    "brand": {"zh-CN": "微信卡券", "en": "Weixin Cards"},
    "reopen": {"zh-CN": "请回到微信卡包，重新打开这张券。", "en": "Go back to your Weixin card wallet and open the coupon again."},
}

# Error pages by kind: HTTP status, title and explanation.
ERRORS: dict[str, tuple[int, dict[str, str], dict[str, str]]] = {
    "bad_link": (
        400,
        {"zh-CN": "链接无效", "en": "Invalid link"},
        {"zh-CN": "这个链接缺少参数或参数有误。", "en": "This link is missing a parameter or has an invalid one."},
    ),
    "invalid_code": (
        400,
        {"zh-CN": "无法识别这张券", "en": "Coupon not recognised"},
        {"zh-CN": "链接中的券码无法解密，可能已被改动。", "en": "The coupon code in this link could not be decrypted; it may have been altered."},
    ),
    "wrong_owner": (
        403,
        {"zh-CN": "无权查看这张券", "en": "Not your coupon"},
        {"zh-CN": "这张券不属于当前微信用户。", "en": "This coupon belongs to another Weixin user."},
    ),
    "wrong_card": (
        403,
        {"zh-CN": "券与链接不符", "en": "Coupon does not match"},
        {"zh-CN": "这张券不属于链接中的卡券。", "en": "This coupon does not belong to the card named in the link."},
    ),
    "not_found": (
        404,
        {"zh-CN": "找不到这张券", "en": "Coupon not found"},
        {"zh-CN": "这张券不存在，或尚未领取、已转赠给他人。", "en": "This coupon does not exist, has not been added yet, or was given to someone else."},
    ),
    "method_not_allowed": (
        405,
        {"zh-CN": "请求方式无效", "en": "Method not allowed"},
        {"zh-CN": "请直接在微信中打开这个链接。", "en": "Open this link in Weixin. Only GET and HEAD requests are accepted."},
    ),
    "weixin_failed": (
        502,
        {"zh-CN": "暂时无法验证这张券", "en": "Coupon cannot be checked"},
        {"zh-CN": "微信拒绝了验证请求，请稍后再试。", "en": "Weixin rejected the check; please try again later."},
    ),
    "busy": (
        503,
        {"zh-CN": "微信服务繁忙", "en": "Weixin is busy"},
        {"zh-CN": "暂时无法连接微信，请稍后再试。", "en": "Weixin cannot be reached right now; please try again in a moment."},
    ),
    "not_configured": (
        503,
        {"zh-CN": "服务尚未配置完成", "en": "Service not set up"},
        {"zh-CN": "商户尚未完成配置，请稍后再试。", "en": "The merchant has not finished setting up this service; please try again later."},
    ),
    "internal": (
        500,
        {"zh-CN": "出错了", "en": "Something went wrong"},
        {"zh-CN": "处理请求时出错，请稍后再试。", "en": "The request could not be processed; please try again later."},
    ),
}

# Reasons a coupon cannot be used, by ``user_card_status`` of ``card/code/get``.
STATUS_TEXTS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "CONSUMED": ({"zh-CN": "已核销", "en": "Already used"}, {"zh-CN": "这张券已经使用过了。", "en": "This coupon has already been used."}),
    "EXPIRE": ({"zh-CN": "已过期", "en": "Expired"}, {"zh-CN": "这张券已过期。", "en": "This coupon has expired."}),
    "DELETE": (
        {"zh-CN": "已删除", "en": "Deleted"},
        {"zh-CN": "这张券已从卡包中删除。", "en": "This coupon was deleted from the card wallet."},
    ),
    "UNAVAILABLE": ({"zh-CN": "已失效", "en": "No longer valid"}, {"zh-CN": "这张券已失效。", "en": "This coupon is no longer valid."}),
    "GIFTING": (
        {"zh-CN": "转赠中", "en": "Being given away"},
        {"zh-CN": "这张券正在转赠给好友，暂不可使用。", "en": "This coupon is being given to a friend and cannot be used now."},
    ),
    "GIFT_TIMEOUT": (
        {"zh-CN": "转赠超时", "en": "Gift timed out"},
        {"zh-CN": "这张券转赠已超时，暂不可使用。", "en": "Giving this coupon away timed out; it cannot be used now."},
    ),
    "NOT_CONSUMABLE": (
        {"zh-CN": "暂不可用", "en": "Not usable now"},
        {"zh-CN": "这张券当前不能使用，可能还未到使用时间。", "en": "This coupon cannot be used now; its validity period may not have started."},
    ),
    "OTHER": (
        {"zh-CN": "不可使用", "en": "Not usable"},
        {"zh-CN": "这张券当前不能使用。", "en": "This coupon cannot be used now."},
    ),
}

COUPON_TEXTS = {
    "title": {"zh-CN": "使用优惠券", "en": "Use this coupon"},
    "show_cashier": {"zh-CN": "请向收银员出示此码", "en": "Show this code to the cashier"},
    "status": {"zh-CN": "状态", "en": "Status"},
    "normal": {"zh-CN": "可使用", "en": "Ready to use"},
    "qr": {"zh-CN": "二维码", "en": "QR code"},
    "barcode": {"zh-CN": "条形码", "en": "Barcode"},
}


_HEX_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
_GREY = "#8c8c8c"


@dataclass(frozen=True)
class CardLook:
    """The card details the pages show, from ``card/get``; empty when it could not be read."""

    title: str = ""
    brand_name: str = ""
    logo_url: str = ""
    color: str = _GREY

    @classmethod
    def from_card(cls, info: CardInfo) -> "CardLook":
        # The colour goes into a style attribute and the logo into src, so only safe forms pass.
        color = info.color if _HEX_COLOR.fullmatch(info.color) else _GREY
        logo_url = info.logo_url if info.logo_url.startswith(("https://", "http://")) else ""
        return cls(info.title, info.brand_name, logo_url, color)


def language_of(request: Request) -> str:
    return page_language(request.headers.get("user-agent", ""))


def render(ctx: AppContext, request: Request, template: str, status_code: int, headers: dict[str, str] | None = None, **values: Any) -> HTMLResponse:
    """Render ``template`` with the page language and the private headers every redirect page gets."""
    language = language_of(request)
    css_url = request.url_for("static", path="landing.css").path
    html = ctx.templates.get_template(template).render(
        lang=language, css_url=css_url, common=translate(COMMON_TEXTS, language), **values
    )
    return HTMLResponse(html, status_code=status_code, headers={**PRIVATE_HEADERS, **(headers or {})})


def error_page(ctx: AppContext, request: Request, kind: str) -> HTMLResponse:
    """Render the error page of ``kind`` (a key of ``ERRORS``); 503 pages carry ``Retry-After`` and 405 pages ``Allow``."""
    status_code, title, message = ERRORS[kind]
    language = language_of(request)
    headers = None
    if status_code == 503:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    elif status_code == 405:
        headers = {"Allow": ", ".join(ALLOWED_METHODS)}
    return render(ctx, request, "error.html", status_code, headers, title=title[language], message=message[language], kind=kind)


def status_page(ctx: AppContext, request: Request, card_id: str, status: str, look: CardLook) -> HTMLResponse:
    """Render the page of a coupon that cannot be used because of its ``status``."""
    title, message = STATUS_TEXTS.get(status, STATUS_TEXTS["OTHER"])
    language = language_of(request)
    return render(
        ctx,
        request,
        "redirect_status.html",
        200,
        title=title[language],
        message=message[language],
        status=status,
        card_id=card_id,
        look=look,
    )


def coupon_page(ctx: AppContext, request: Request, card_id: str, code: str, look: CardLook, status: str) -> HTMLResponse:
    """Render our own "use this coupon" page with the code as text, QR code and barcode."""
    language = language_of(request)
    return render(
        ctx,
        request,
        "coupon.html",
        200,
        t=translate(COUPON_TEXTS, language),
        card_id=card_id,
        look=look,
        code=code,
        status=status,
        qr_svg=qr_code_svg(code),
        barcode_svg=barcode_svg(code),
    )
