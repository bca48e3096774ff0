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


@dataclass
class MerchantPage:
    """The merchant's server: where the backend hands verified coupons over. It records what it received."""

    backend_base: str
    merchant_key: str
    handoffs: list[dict[str, Any]] = field(default_factory=list)
    consumes: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/shop", self.shop), Route("/shop/consume", self.consume, methods=["POST"])])

    async def _backend(self, path: str, body: dict[str, Any]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.merchant_key}"}
        async with httpx.AsyncClient(base_url=self.backend_base, timeout=10) as client:
            return await client.post(path, json=body, headers=headers)

    async def shop(self, request: Request) -> HTMLResponse:
        token = request.query_params.get("handoff", "")
        response = await self._backend("/cards/handoff/verify", {"token": token})
        if response.status_code != 200:
            logger.info("merchant page got an invalid hand-over: HTTP %d", response.status_code)
            body = f"<p>优惠券交接无效（HTTP {response.status_code}）。</p>"
            return HTMLResponse(PAGE.format(title="交接失败", state="handoff-invalid", body=body), status_code=400)

        handoff = response.json()
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
        return HTMLResponse(PAGE.format(title="门店核销", state="handoff-verified", body=body))

    async def consume(self, request: Request) -> HTMLResponse:
        form = await request.form()
        response = await self._backend("/cards/consume", {"token": str(form.get("handoff", ""))})
        result = response.json()
        self.consumes.append(result)
        if response.status_code != 200:
            body = f"<p>核销失败：{html.escape(str(result.get('message', '')))}</p>"
            return HTMLResponse(PAGE.format(title="核销失败", state="consume-failed", body=body), status_code=502)
        state = "consumed" if result.get("result") == "consumed" else "already-consumed"
        text = "核销成功" if state == "consumed" else "这张券已经核销过了"
        return HTMLResponse(PAGE.format(title=text, state=state, body=f"<p>{text}。</p>"))
