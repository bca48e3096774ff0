"""The /sandbox/ control endpoints: not Weixin, for tests, the demo and client simulators.

All take and return JSON. A bad request gets HTTP 400 ``{"error": "..."}``; a request
that breaks a Weixin rule (e.g. get_limit when issuing a code) gets HTTP 409 with
Weixin's ``{"errcode", "errmsg"}``; an unknown card or code gets the same with 409.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from h5.sandbox.errors import SandboxError

logger = logging.getLogger(__name__)


class BadRequest(ValueError):
    """A control request with a missing or invalid field, returned as HTTP 400."""


async def json_object(request: Request) -> dict[str, Any]:
    """Parse a control request's body as a JSON object; an empty body is ``{}``."""
    try:
        body = json.loads((await request.body()) or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _required(body: dict[str, Any], key: str) -> Any:
    value = body.get(key)
    if value is None or value == "":
        raise BadRequest(f"missing field {key!r}")
    return value


def _control(handler: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await handler(request))
        except ValueError as exc:
            logger.info("sandbox control %s %s rejected: %s", request.method, request.url.path, exc)
            return JSONResponse({"error": str(exc)}, status_code=400)
        except SandboxError as exc:
            logger.info("sandbox control %s %s returned errcode=%d", request.method, request.url.path, exc.errcode)
            return JSONResponse(exc.answer(), status_code=409)

    return endpoint


async def stats(request: Request) -> dict[str, Any]:
    return request.app.state.sandbox.stats()


async def tickets(request: Request) -> dict[str, Any]:
    state = request.app.state.sandbox
    return state.tickets_for(request.query_params.get("appid") or state.default_appid)


async def requests(request: Request) -> list[dict[str, Any]]:
    return [item.as_json() for item in request.app.state.sandbox.recorded(request.query_params.get("path"))]


async def events(request: Request) -> list[dict[str, Any]]:
    state = request.app.state.sandbox
    with state.lock:
        return list(state.events)


async def add_fault(request: Request) -> dict[str, Any]:
    body = await json_object(request)
    fault = request.app.state.sandbox.add_fault(
        str(_required(body, "path")),
        errcode=body.get("errcode"),
        count=int(body.get("count", 1)),
        delay=float(body.get("delay", 0)),
        http_status=body.get("http_status"),
        errmsg=body.get("errmsg"),
    )
    return {"fault": fault.describe()}


async def clear_faults(request: Request) -> dict[str, Any]:
    state = request.app.state.sandbox
    with state.lock:
        state.faults.clear()
    return {"faults": []}


async def expire_tokens(request: Request) -> dict[str, Any]:
    body = await json_object(request)
    state = request.app.state.sandbox
    appid = body.get("appid") or state.default_appid
    return {"appid": appid, "expired": state.expire_tokens(appid)}


async def card_status(request: Request) -> dict[str, Any]:
    body = await json_object(request)
    card = request.app.state.sandbox.set_card_status(
        request.path_params["card_id"], str(_required(body, "status")), body.get("reason"),
    )
    return {"card_id": card.card_id, "status": card.status}


async def issue_code(request: Request) -> dict[str, Any]:
    body = await json_object(request)
    state = request.app.state.sandbox
    record = state.issue_code(
        body.get("appid") or state.default_appid,
        _required(body, "card_id"),
        _required(body, "openid"),
        outer_str=body.get("outer_str"),
        code=body.get("code"),
        bound_openid=body.get("bound_openid"),
    )
    return {"code": record.code, "encrypt_code": record.encrypt_code, "card_id": record.card_id, "openid": record.openid}


async def code_status(request: Request) -> dict[str, Any]:
    body = await json_object(request)
    record = request.app.state.sandbox.set_code_status(
        str(_required(body, "code")), str(_required(body, "status")), body.get("card_id"),
    )
    return {"card_id": record.card_id, "status": record.status}


async def scan_qrcode(request: Request) -> dict[str, Any]:
    body = await json_object(request)
    ticket = body.get("ticket") or _required(body, "url")
    records = request.app.state.sandbox.issue_from_qrcode(ticket, _required(body, "openid"))
    return {"codes": [{"code": r.code, "encrypt_code": r.encrypt_code, "card_id": r.card_id} for r in records]}


async def redirect_url(request: Request) -> dict[str, Any]:
    params = request.query_params
    if not params.get("code"):
        raise BadRequest("missing query parameter 'code'")
    url = request.app.state.sandbox.redirect_url(params["code"], params.get("card_id"), params.get("url"))
    return {"url": url}


async def advance_clock(request: Request) -> dict[str, Any]:
    body = await json_object(request)
    return {"now": request.app.state.sandbox.advance(float(_required(body, "advance")))}


async def register_app(request: Request) -> dict[str, Any]:
    body = await json_object(request)
    app = request.app.state.sandbox.register_app(str(_required(body, "appid")), str(_required(body, "secret")))
    return {"appid": app.appid, "original_id": app.original_id}


def control_routes() -> list[Route]:
    """Return the /sandbox/ routes."""
    table = [
        ("/sandbox/stats", stats, "GET"),
        ("/sandbox/tickets", tickets, "GET"),
        ("/sandbox/requests", requests, "GET"),
        ("/sandbox/events", events, "GET"),
        ("/sandbox/faults", add_fault, "POST"),
        ("/sandbox/faults", clear_faults, "DELETE"),
        ("/sandbox/tokens/expire", expire_tokens, "POST"),
        ("/sandbox/cards/{card_id}/status", card_status, "POST"),
        ("/sandbox/codes/issue", issue_code, "POST"),
        ("/sandbox/codes/status", code_status, "POST"),
        ("/sandbox/qrcodes/scan", scan_qrcode, "POST"),
        ("/sandbox/redirect-url", redirect_url, "GET"),
        ("/sandbox/clock", advance_clock, "POST"),
        ("/sandbox/apps", register_app, "POST"),
    ]
    return [Route(path, _control(handler), methods=[method]) for path, handler, method in table]
