"""The Weixin client's side of ``wx.config``, for browser tests: ``POST /sandbox/client/pre-verify``.

When a page calls ``wx.config``, the official JS-SDK calls the Weixin client (bridge method
``preVerifyJSAPI``) to check the signature. No URL travels with that call: the client signs
the URL its web view shows. A browser test double therefore sends that URL here with the
values that the page passed to ``wx.config``::

    POST /sandbox/client/pre-verify
    {"appid": "wx...", "url": "https://...", "timestamp": "1414587457", "nonceStr": "...", "signature": "..."}

and gets the bridge's reply, ``{"err_msg": "pre_verify_jsapi:ok"}`` or
``{"err_msg": "pre_verify_jsapi:fail_<reason>"}``.

The signature is recomputed here with ``hashlib`` and not with our ``signer`` package, so
that a mistake in the signer cannot hide itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from h5.sandbox.errors import SandboxError

if TYPE_CHECKING:
    from h5.sandbox.state import SandboxState

logger = logging.getLogger(__name__)

OK = "pre_verify_jsapi:ok"
INVALID_SIGNATURE = "pre_verify_jsapi:fail_invalid signature"
INVALID_APPID = "pre_verify_jsapi:fail_invalid appid"


def expected_config_signature(jsapi_ticket: str, noncestr: str, timestamp: str, url: str) -> str:
    """Return sha1 of ``jsapi_ticket=...&noncestr=...&timestamp=...&url=...`` with the URL cut at ``#``."""
    page_url = url.split("#", 1)[0]
    text = f"jsapi_ticket={jsapi_ticket}&noncestr={noncestr}&timestamp={timestamp}&url={page_url}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def pre_verify(state: "SandboxState", body: dict[str, Any]) -> str:
    """Check a ``wx.config`` signature as the Weixin client does, and return the bridge's ``err_msg``."""
    appid = str(body.get("appid", ""))
    try:
        state.app(appid)
    except SandboxError:
        logger.info("sandbox pre-verify rejected unknown appid=%s", appid)
        return INVALID_APPID

    fields = {name: body.get(name) for name in ("url", "timestamp", "nonceStr", "signature")}
    if not all(isinstance(value, str) and value for value in fields.values()):
        logger.info("sandbox pre-verify appid=%s missing or non-text fields: %s", appid, sorted(fields))
        return INVALID_SIGNATURE

    # Only the ticket that getticket currently returns is accepted; with none issued, no
    # signature can match.
    ticket = state.tickets_for(appid).get("jsapi")
    if ticket is None:
        logger.info("sandbox pre-verify appid=%s: no valid jsapi ticket has been issued", appid)
        return INVALID_SIGNATURE

    expected = expected_config_signature(ticket, fields["nonceStr"], fields["timestamp"], fields["url"])
    # compare_digest rejects str with non-ASCII characters, so compare the UTF-8 bytes.
    if not hmac.compare_digest(expected.encode(), fields["signature"].encode("utf-8")):
        logger.info("sandbox pre-verify appid=%s invalid signature for url=%s", appid, fields["url"])
        return INVALID_SIGNATURE
    logger.info("sandbox pre-verify appid=%s ok for url=%s", appid, fields["url"])
    return OK


async def pre_verify_endpoint(request: Request) -> JSONResponse:
    """Handle ``POST /sandbox/client/pre-verify`` for the sandbox state on ``request.app.state.sandbox``."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        logger.info("sandbox pre-verify rejected a body that is not a JSON object")
        return JSONResponse({"error": "the body must be a JSON object with appid, url, timestamp, nonceStr and signature"}, status_code=400)
    return JSONResponse({"err_msg": pre_verify(request.app.state.sandbox, body)})


routes = [Route("/sandbox/client/pre-verify", pre_verify_endpoint, methods=["POST"])]
