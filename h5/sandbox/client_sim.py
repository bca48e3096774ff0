"""The sandbox as the Weixin client: adding and deleting cards, and where events are pushed.

``POST /sandbox/client/add-card`` does what the client does for ``wx.addCard``::

    {"appid": "wx...", "openid": "o...", "card_list": [{"card_id": "p...", "card_ext": "{...}"}]}

Each card_ext signature is checked as Weixin does: the values of api_ticket (the current
wx_card ticket), timestamp, card_id, code, openid and nonce_str, absent ones empty, sorted
as strings, joined and sha1-hashed. A mismatch, a millisecond timestamp, a nonce_str over
32 characters or a reused nonce_str and timestamp is rejected with errcode 40080, and
nothing is added. Each accepted card gets a code, and ``user_get_card`` is pushed with the
card_ext's ``outer_str`` as ``OuterStr``. The response is
``{"card_list": [{"card_id", "card_ext", "is_succ": 1, "code": <encrypt_code>}]}``. A card
that could not be issued has ``is_succ`` 0 with the errcode, and when no card was added the
status is 409.

``POST /sandbox/client/delete-card`` ``{"openid", "code"[, "card_id"]}`` is a user deleting
a card, which pushes ``user_del_card``. Consuming through ``card/code/consume`` already
pushes ``user_consume_card``.

``POST /sandbox/push-config`` ``{"url", "mode": "plaintext"|"secure", "token",
"encoding_aes_key"[, "timeout"]}`` sets where events are pushed (``{"url": null}`` stops pushing), and
``GET /sandbox/push-config`` shows it, without the token and key, with recent push outcomes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import weakref
from typing import Mapping, TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from h5.sandbox.control import BadRequest, json_object
from h5.sandbox.errors import SandboxError
from h5.sandbox.pusher import PushConfig, pusher_for

if TYPE_CHECKING:
    from h5.sandbox.state import SandboxState

logger = logging.getLogger(__name__)

INVALID_CARD_EXT = 40080
# card_ext's nonce_str is documented as at most 32 characters.
MAX_NONCE_LENGTH = 32
# card_ext fields that are signed, besides api_ticket and card_id.
SIGNED_EXT_FIELDS = ("timestamp", "code", "openid", "nonce_str")


def card_ext_signature(api_ticket: str, card_id: str, ext: dict[str, Any]) -> str:
    """Return the sha1 of the sorted values of api_ticket, card_id and the signed card_ext fields."""
    values = [api_ticket, card_id] + [_text(ext.get(name)) for name in SIGNED_EXT_FIELDS]
    return hashlib.sha1("".join(sorted(values)).encode("utf-8")).hexdigest()


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def verify_card_ext(state: "SandboxState", appid: str, card_id: str, card_ext: Any) -> dict[str, Any]:
    """Return the parsed card_ext after checking it as Weixin does; raise 40080 otherwise.

    The nonce_str and timestamp pair is remembered per appid and card, so a card_ext
    cannot be used twice.
    """
    if not isinstance(card_ext, str):
        raise SandboxError(INVALID_CARD_EXT, "invalid card ext: card_ext must be a JSON string")
    try:
        ext = json.loads(card_ext)
    except json.JSONDecodeError:
        raise SandboxError(INVALID_CARD_EXT, "invalid card ext: card_ext is not JSON") from None
    if not isinstance(ext, dict) or not ext.get("signature") or not ext.get("timestamp"):
        raise SandboxError(INVALID_CARD_EXT, "invalid card ext: timestamp and signature are required")

    timestamp = _text(ext["timestamp"])
    if not timestamp.isdigit() or len(timestamp) > 10:
        raise SandboxError(INVALID_CARD_EXT, f"invalid card ext: timestamp {timestamp!r} must be Unix seconds")
    nonce_str = _text(ext.get("nonce_str"))
    if len(nonce_str) > MAX_NONCE_LENGTH:
        raise SandboxError(
            INVALID_CARD_EXT, f"invalid card ext: nonce_str has {len(nonce_str)} characters, at most {MAX_NONCE_LENGTH}",
        )

    ticket = state.tickets_for(appid).get("wx_card")
    if ticket is None:
        raise SandboxError(INVALID_CARD_EXT, "invalid card ext: no wx_card api_ticket has been issued to this appid")
    expected = card_ext_signature(ticket, card_id, ext)
    # compare_digest rejects str with non-ASCII characters, so compare the UTF-8 bytes.
    if not hmac.compare_digest(expected.encode(), _text(ext["signature"]).lower().encode("utf-8")):
        raise SandboxError(INVALID_CARD_EXT, "invalid card ext: signature mismatch")

    used = _used_nonces(state)
    key = (appid, card_id, nonce_str, timestamp)
    with state.lock:
        if key in used:
            raise SandboxError(INVALID_CARD_EXT, "invalid card ext: nonce_str and timestamp were already used")
        used.add(key)
    return ext


# The (appid, card_id, nonce_str, timestamp) of every accepted card_ext, per sandbox state.
_accepted_card_exts: "weakref.WeakKeyDictionary[SandboxState, set[tuple[str, str, str, str]]]" = weakref.WeakKeyDictionary()


def _used_nonces(state: "SandboxState") -> set[tuple[str, str, str, str]]:
    with state.lock:
        return _accepted_card_exts.setdefault(state, set())


def add_cards(state: "SandboxState", appid: str, openid: str, card_list: Any) -> list[dict[str, Any]]:
    """Check every card_ext, then issue one code per card; return the client's ``card_list``."""
    if not isinstance(card_list, list) or not card_list:
        raise BadRequest("card_list must be a non-empty list of {card_id, card_ext}")
    state.app(appid)

    # Every card_ext is checked before any code is issued, so a bad one adds nothing.
    checked = []
    for entry in card_list:
        if not isinstance(entry, dict) or not entry.get("card_id"):
            raise BadRequest("each card_list entry needs card_id and card_ext")
        card_id = str(entry["card_id"])
        checked.append((card_id, entry.get("card_ext"), verify_card_ext(state, appid, card_id, entry.get("card_ext"))))

    results = []
    for card_id, card_ext, ext in checked:
        try:
            record = state.issue_code(
                appid, card_id, openid, outer_str=ext.get("outer_str"), code=ext.get("code") or None,
                bound_openid=ext.get("openid") or None, source_scene="SOURCE_SCENE_APPMSG_JSAPI",
            )
        except SandboxError as exc:
            logger.info("sandbox client add-card failed card_id=%s errcode=%d", card_id, exc.errcode)
            results.append({"card_id": card_id, "card_ext": card_ext, "is_succ": 0, **exc.answer()})
            continue
        results.append({"card_id": card_id, "card_ext": card_ext, "is_succ": 1, "code": record.encrypt_code})
    return results


def _required(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"missing field {name!r}")
    return value


def _bridge_shape(body: dict[str, Any], query: Mapping[str, str]) -> dict[str, Any]:
    """Accept the ``wx.addCard`` argument as well, so the card-ext endpoint's JSON can be piped in.

    ``{"cardList": [{"cardId", "cardExt"}]}`` becomes ``card_list``; ``appid`` and
    ``openid`` may come from the query string.
    """
    if "card_list" not in body and isinstance(body.get("cardList"), list):
        body["card_list"] = [
            {"card_id": entry.get("cardId"), "card_ext": entry.get("cardExt")} if isinstance(entry, dict) else entry
            for entry in body["cardList"]
        ]
    for name in ("appid", "openid"):
        if name not in body and query.get(name):
            body[name] = query[name]
    return body


async def add_card_endpoint(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    try:
        body = _bridge_shape(await json_object(request), request.query_params)
        appid = body.get("appid") or state.default_appid
        results = add_cards(state, appid, _required(body, "openid"), body.get("card_list"))
    except BadRequest as exc:
        logger.info("sandbox client add-card rejected a bad request: %s", exc)
        return JSONResponse({"error": str(exc)}, status_code=400)
    except SandboxError as exc:
        logger.info("sandbox client add-card rejected errcode=%d: %s", exc.errcode, exc.errmsg)
        return JSONResponse(exc.answer(), status_code=409)
    if not any(result["is_succ"] for result in results):
        first = results[0]
        return JSONResponse({"errcode": first["errcode"], "errmsg": first["errmsg"], "card_list": results}, status_code=409)
    return JSONResponse({"card_list": results})


async def delete_card_endpoint(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    try:
        body = await json_object(request)
        openid, code = _required(body, "openid"), _required(body, "code")
        record = state.find_code(None, code, body.get("card_id"))
        if record.openid != openid:
            raise SandboxError(40003, "invalid openid: this code belongs to another user")
        if state.user_card_status(record) == "DELETE":
            raise SandboxError(40127, "invalid user-card status! Hint: the card was already deleted")
        state.set_code_status(code, "DELETE", record.card_id)
    except BadRequest as exc:
        logger.info("sandbox client delete-card rejected a bad request: %s", exc)
        return JSONResponse({"error": str(exc)}, status_code=400)
    except SandboxError as exc:
        logger.info("sandbox client delete-card rejected errcode=%d", exc.errcode)
        return JSONResponse(exc.answer(), status_code=409)
    return JSONResponse({"errcode": 0, "errmsg": "ok", "card_id": record.card_id})


async def push_config_endpoint(request: Request) -> Response:
    pusher = pusher_for(request.app.state.sandbox)
    if request.method == "POST":
        try:
            body = await json_object(request)
            config = None if body.get("url") is None else PushConfig(
                url=str(body["url"]),
                mode=str(body.get("mode") or "plaintext"),
                token=str(body.get("token") or ""),
                encoding_aes_key=str(body.get("encoding_aes_key") or ""),
                timeout=float(body.get("timeout") or 5.0),
            )
        except ValueError as exc:
            logger.info("sandbox client push-config rejected a bad request: %s", exc)
            return JSONResponse({"error": str(exc)}, status_code=400)
        pusher.configure(config)
    return JSONResponse({
        "config": pusher.config.describe() if pusher.config else None,
        "deliveries": list(pusher.deliveries),
    })


routes = [
    Route("/sandbox/client/add-card", add_card_endpoint, methods=["POST"]),
    Route("/sandbox/client/delete-card", delete_card_endpoint, methods=["POST"]),
    Route("/sandbox/push-config", push_config_endpoint, methods=["GET", "POST"]),
]
