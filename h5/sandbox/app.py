"""The sandbox's Starlette app: Weixin API paths, uploaded images and the /sandbox/ controls.

Weixin paths respond as Weixin does: HTTP 200 with JSON, ``{"errcode": N, "errmsg": "... hint: [...]"}``
on errors. Every request to a Weixin path is counted and recorded, then may hit an
injected fault, then has its access_token checked.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from h5.sandbox import client_sim, jsbridge
from h5.sandbox.cardspec import COLORS
from h5.sandbox.control import control_routes
from h5.sandbox.errors import SandboxError, data_format
from h5.sandbox.state import SandboxState

logger = logging.getLogger(__name__)


@dataclass
class Call:
    """One Weixin API request passed to a handler; ``appid`` comes from the access_token."""

    state: SandboxState
    request: Request
    appid: str
    body: bytes
    query: dict[str, str]

    def json(self) -> dict[str, Any]:
        """Parse the body as a JSON object, as Weixin does (44002 empty, 47001 malformed)."""
        if not self.body.strip():
            raise SandboxError(44002, "empty post data")
        try:
            value = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise data_format(f"the body is not UTF-8 JSON ({exc})") from None
        if not isinstance(value, dict):
            raise data_format("the body must be a JSON object")
        return value

    @property
    def client_ip(self) -> str | None:
        return self.request.client.host if self.request.client else None


Handler = Callable[[Call], Awaitable[dict[str, Any]]]


def weixin_response(payload: dict[str, Any]) -> Response:
    """Return JSON the way Weixin sends it: UTF-8 with Chinese as characters."""
    content = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(content, headers={"content-type": "application/json; encoding=utf-8"})


def weixin_route(path: str, handler: Handler, method: str = "POST", needs_token: bool = True) -> Route:
    """Wrap ``handler`` with recording, counting, faults and the access_token check."""

    async def endpoint(request: Request) -> Response:
        state: SandboxState = request.app.state.sandbox
        body = await request.body()
        query = dict(request.query_params)
        state.record_request(path, request.method, request.headers.get("content-type", ""), body, query)

        # Injected faults come first, so they also hit the token endpoints.
        fault = state.take_fault(path)
        if fault is not None:
            logger.info(
                "sandbox %s injected fault errcode=%s http_status=%s delay=%s",
                path, fault.errcode, fault.http_status, fault.delay,
            )
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.http_status is not None:
                return PlainTextResponse(f"sandbox fault: HTTP {fault.http_status}", status_code=fault.http_status)
            if fault.errcode is not None:
                error = SandboxError(fault.errcode, fault.errmsg or ("system error" if fault.errcode == -1 else "sandbox fault"))
                return weixin_response(error.answer())

        try:
            appid = state.check_token(query.get("access_token")) if needs_token else ""
            result = await handler(Call(state, request, appid, body, query))
        except SandboxError as exc:
            logger.info("sandbox %s returned errcode=%d", path, exc.errcode)
            return weixin_response(exc.answer())
        return weixin_response(result)

    return Route("/" + path, endpoint, methods=[method])


# -- Weixin API handlers -------------------------------------------------------------------


async def token(call: Call) -> dict[str, Any]:
    query = call.query
    return call.state.fetch_token(query.get("grant_type"), query.get("appid"), query.get("secret"), call.client_ip)


async def stable_token(call: Call) -> dict[str, Any]:
    return call.state.fetch_stable_token(call.json(), call.client_ip)


async def getticket(call: Call) -> dict[str, Any]:
    return call.state.fetch_ticket(call.appid, call.query.get("type"))


async def uploadimg(call: Call) -> dict[str, Any]:
    content = None
    try:
        form = await call.request.form()
    except Exception as exc:  # a malformed multipart body is "no media" to Weixin
        logger.info("sandbox uploadimg could not parse the multipart body: %s", exc)
        form = None
    if form is not None:
        part = form.get("buffer")
        if isinstance(part, UploadFile):
            content = await part.read()
        await form.close()
    media_id = call.state.upload_image(content)
    return {"url": f"{str(call.request.base_url).rstrip('/')}/mmbiz/{media_id}/0"}


async def card_create(call: Call) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "ok", "card_id": call.state.create_card(call.appid, call.json())}


async def card_get(call: Call) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "ok", "card": call.state.card_view(call.json().get("card_id"), call.appid)}


async def card_delete(call: Call) -> dict[str, Any]:
    call.state.delete_card(call.appid, call.json().get("card_id"))
    return {"errcode": 0, "errmsg": "ok"}


async def modifystock(call: Call) -> dict[str, Any]:
    call.state.modify_stock(call.appid, call.json())
    return {"errcode": 0, "errmsg": "ok"}


async def getcolors(call: Call) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "ok", "colors": [{"name": name, "value": value} for name, value in COLORS.items()]}


async def qrcode_create(call: Call) -> dict[str, Any]:
    return call.state.create_qrcode(call.appid, call.json())


async def whitelist_set(call: Call) -> dict[str, Any]:
    return call.state.set_whitelist(call.appid, call.json())


async def code_get(call: Call) -> dict[str, Any]:
    return call.state.get_code(call.appid, call.json())


async def code_decrypt(call: Call) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "ok", "code": call.state.decrypt_code(call.appid, call.json().get("encrypt_code"))}


async def code_consume(call: Call) -> dict[str, Any]:
    return call.state.consume_code(call.appid, call.json())


async def code_deposit(call: Call) -> dict[str, Any]:
    return call.state.deposit_codes(call.appid, call.json())


async def code_depositcount(call: Call) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "ok", "count": call.state.deposit_count(call.appid, call.json().get("card_id"))}


async def code_check(call: Call) -> dict[str, Any]:
    return call.state.check_codes(call.appid, call.json())


async def mmbiz_image(request: Request) -> Response:
    """Serve an uploaded image at the URL uploadimg returned."""
    found = request.app.state.sandbox.image(request.path_params["media_id"])
    if found is None:
        return PlainTextResponse("image not found", status_code=404)
    content, content_type = found
    return Response(content, media_type=content_type)


WEIXIN_ROUTES = [
    weixin_route("cgi-bin/token", token, method="GET", needs_token=False),
    weixin_route("cgi-bin/stable_token", stable_token, needs_token=False),
    weixin_route("cgi-bin/ticket/getticket", getticket, method="GET"),
    weixin_route("cgi-bin/media/uploadimg", uploadimg),
    weixin_route("card/create", card_create),
    weixin_route("card/get", card_get),
    weixin_route("card/delete", card_delete),
    weixin_route("card/modifystock", modifystock),
    weixin_route("card/getcolors", getcolors, method="GET"),
    weixin_route("card/qrcode/create", qrcode_create),
    weixin_route("card/testwhitelist/set", whitelist_set),
    weixin_route("card/code/get", code_get),
    weixin_route("card/code/decrypt", code_decrypt),
    weixin_route("card/code/consume", code_consume),
    weixin_route("card/code/deposit", code_deposit),
    weixin_route("card/code/getdepositcount", code_depositcount),
    weixin_route("card/code/checkcode", code_check),
]


def create_sandbox_app(state: SandboxState | None = None) -> Starlette:
    """Build the sandbox app around ``state`` (a new ``SandboxState`` with the default app if None)."""
    app = Starlette(routes=[
        *WEIXIN_ROUTES,
        Route("/mmbiz/{media_id}/0", mmbiz_image, methods=["GET"]),
        *control_routes(),
        *jsbridge.routes,
        *client_sim.routes,
    ])
    app.state.sandbox = state if state is not None else SandboxState()
    return app
