"""A merchant's test page for the demo and the browser journey: it takes the hand-over and consumes the code.

``GET /shop?handoff=TOKEN`` verifies the token with the backend's
``POST /cards/handoff/verify`` and shows the coupon with a 核销 (consume) button.
``POST /shop/consume`` calls the backend's ``POST /cards/consume`` with the same token.
Both calls carry the merchant key, as a merchant's own server would send them.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

logger = logging.getLogger(__name__)

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", sans-serif; margin: 0; padding: 24px; background: #f5f5f5; color: #1a1a1a; }}
main {{ background: #fff; border-radius: 12px; padding: 24px; }}
h1 {{ font-size: 22px; margin: 0 0 16px; }}
dl {{ display: grid; grid-template-columns: auto 1fr; gap: 8px 16px; margin: 0 0 24px; }}
dt {{ color: #595959; }} dd {{ margin: 0; word-break: break-all; }}
button {{ width: 100%; padding: 14px; font-size: 18px; border: 0; border-radius: 8px; background: #07c160; color: #fff; }}
</style></head>
<body data-state="{state}"><main><h1>{title}</h1>{body}</main></body></html>
"""

# The page's URL carries the hand-over token, so no request it starts may send a Referer,
# and the page shows part of a code, so no cache may keep it.
PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def page(title: str, state: str, body: str, status_code: int = 200) -> HTMLResponse:
    """Render the merchant page with ``PAGE_HEADERS``; ``body`` must already be escaped."""
    html_text = PAGE.format(title=title, state=state, body=body)
    return HTMLResponse(html_text, status_code=status_code, headers=PAGE_HEADERS)


def backend_failed_page(path: str, exc: Exception) -> HTMLResponse:
    """Log a failed backend call and render the 502 page a merchant's server would show for it."""
    logger.warning("merchant page could not call the backend path=%s: %s", path, type(exc).__name__)
    body = "<p>暂时无法连接卡券后台，请稍后再试。</p>"
    return page("后台不可用", "backend-failed", body, status_code=502)


@dataclass
class MerchantPage:
    """The merchant's server: where the backend hands verified coupons over. It records what it received."""

    backend_base: str
    merchant_key: str
    handoffs: list[dict[str, Any]] = field(default_factory=list)
    consumes: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/shop", self.shop), Route("/shop/consume", self.consume, methods=["POST"])])

    async def _backend(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST ``body`` to the backend and return the status and JSON object of its response.

        Raises ``httpx.HTTPError`` when the backend cannot be reached and ``ValueError``
        when its response is not a JSON object.
        """
        headers = {"Authorization": f"Bearer {self.merchant_key}"}
        async with httpx.AsyncClient(base_url=self.backend_base, timeout=10) as client:
            response = await client.post(path, json=body, headers=headers)

        data = response.json()
        if not isinstance(data, dict):
            raise ValueError(f"{path} returned JSON that is not an object")
        return response.status_code, data

    async def shop(self, request: Request) -> HTMLResponse:
        token = request.query_params.get("handoff", "")
        try:
            status_code, handoff = await self._backend("/cards/handoff/verify", {"token": token})
        except (httpx.HTTPError, ValueError) as exc:
            return backend_failed_page("/cards/handoff/verify", exc)

        if status_code != 200:
            logger.info("merchant page got an invalid hand-over: HTTP %d error=%s", status_code, handoff.get("error"))
            body = f"<p>优惠券交接无效（HTTP {status_code}）。</p>"
            return page("交接失败", "handoff-invalid", body, status_code=400)

        self.handoffs.append(handoff)
        rows = "".join(
            f"<dt>{label}</dt><dd data-field=\"{name}\">{html.escape(str(handoff.get(name, '')))}</dd>"
            for name, label in (("card_id", "卡券"), ("outer_str", "渠道"), ("status", "状态"))
        )
        body = (
            f"<dl>{rows}<dt>券码</dt><dd>••••{html.escape(handoff['code'][-4:])}</dd></dl>"
            f"<form method=\"post\" action=\"/shop/consume\"><input type=\"hidden\" name=\"handoff\" value=\"{html.escape(token)}\">"
            "<button type=\"submit\">核销</button></form>"
        )
        return page("门店核销", "handoff-verified", body)

    async def consume(self, request: Request) -> HTMLResponse:
        form = await request.form()
        try:
            status_code, result = await self._backend("/cards/consume", {"token": str(form.get("handoff", ""))})
        except (httpx.HTTPError, ValueError) as exc:
            return backend_failed_page("/cards/consume", exc)

        self.consumes.append(result)
        if status_code != 200:
            logger.info("merchant page consume failed: HTTP %d error=%s", status_code, result.get("error"))
            body = f"<p>核销失败：{html.escape(str(result.get('message', '')))}</p>"
            return page("核销失败", "consume-failed", body, status_code=502)

        state = "consumed" if result.get("result") == "consumed" else "already-consumed"
        text = "核销成功" if state == "consumed" else "这张券已经核销过了"
        return page(text, state, f"<p>{text}。</p>")
