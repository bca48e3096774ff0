"""The card event receiver: ``GET`` and ``POST /weixin/events``.

``GET`` is Weixin's server URL check: the ``signature`` is the sha1 of the sorted token,
timestamp and nonce, and on a match the response body is ``echostr``.

``POST`` takes pushes in plaintext, compatible and secure (AES) mode, as XML or JSON.
A push is checked in this order, so nothing unauthenticated is parsed where avoidable:
query signature and freshness of the signed ``timestamp``, body size, envelope, then in
secure mode ``msg_signature``, decryption and the appid inside. The event is stored
(once per dedup key) before the reply ``success``, which Weixin accepts in every mode as
"received, do not retry". Forwarding to the merchant runs later, from the outbox.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from h5.context import AppContext
from h5.events.forwarder import WebhookForwarder
from h5.events.model import event_id_for
from h5.events.parsing import PushFormatError, parse_message
from signer.push import push_signature, signatures_match
from signer.secure import PushCrypto, SecureModeError

logger = logging.getLogger(__name__)

_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")

# The forwarder of each running app, by id of its context.
_forwarders: dict[int, WebhookForwarder] = {}


class PushRejected(Exception):
    """A rejected push: the response gets ``status`` and ``reason``, and nothing is stored."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


async def weixin_events(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    try:
        if request.method == "GET":
            return verify_server_url(ctx, request)
        return await receive_push(ctx, request)
    except PushRejected as exc:
        logger.warning(
            "push rejected status=%d method=%s reason=%s nonce=%s",
            exc.status,
            request.method,
            exc.reason,
            request.query_params.get("nonce", ""),
        )
        return PlainTextResponse(exc.reason, status_code=exc.status)


def verify_server_url(ctx: AppContext, request: Request) -> Response:
    """Return ``echostr`` for Weixin's URL check when the signature matches the token, else 403."""
    query = request.query_params
    _check_signature(ctx, query.get("signature"), query.get("timestamp"), query.get("nonce"))
    logger.info("server URL check passed nonce=%s", query.get("nonce"))
    return PlainTextResponse(query.get("echostr", ""))


async def receive_push(ctx: AppContext, request: Request) -> Response:
    """Verify, decode and store one push, then reply ``success``."""
    settings = ctx.settings
    query = request.query_params
    timestamp, nonce = query.get("timestamp"), query.get("nonce")
    secure = query.get("encrypt_type", "").lower() == "aes"
    _require_token(ctx)

    # The plain signature covers only token, timestamp and nonce, but it is checkable
    # before reading the body. Weixin sends it in every mode. Only a secure-mode push that
    # this server can decrypt may go without it, because msg_signature, checked below,
    # then covers the body. Without an AES key, the plain signature is the only proof.
    if not secure or "signature" in query or not settings.aes_key:
        _check_signature(ctx, query.get("signature"), timestamp, nonce)
    _check_fresh(timestamp, settings.push_window)

    body = await _read_capped(request, settings.push_max_body)
    envelope = _parse(body)
    fields = _open_envelope(ctx, envelope, query.get("msg_signature"), timestamp or "", nonce or "") if secure else envelope

    if fields.get("MsgType") != "event":
        # Only events are stored here; user messages are acknowledged so Weixin does not retry.
        logger.info("push acknowledged without storing msg_type=%s", fields.get("MsgType"))
        return PlainTextResponse("success")
    for name in ("FromUserName", "CreateTime", "Event"):
        if fields.get(name) in (None, ""):
            raise PushRejected(400, f"the event has no {name}")

    await _store_event(ctx, fields)
    return PlainTextResponse("success")


def _require_token(ctx: AppContext) -> str:
    if not ctx.settings.token:
        logger.error("WXCARD_TOKEN is not set, so no push can be verified; set it to the Token of the server URL")
        raise PushRejected(403, "the server has no token configured")
    return ctx.settings.token


def _check_signature(ctx: AppContext, signature: str | None, timestamp: str | None, nonce: str | None) -> None:
    token = _require_token(ctx)
    if not signature or not timestamp or not nonce:
        raise PushRejected(403, "signature, timestamp and nonce are required")
    if not signatures_match(push_signature(token, timestamp, nonce), signature):
        raise PushRejected(403, "invalid signature")


def _check_fresh(timestamp: str | None, window: int) -> None:
    # The signed query timestamp is fresh on every delivery. CreateTime is not checked,
    # because Weixin keeps it unchanged when it retries.

    # ASCII digits only, and few of them: str.isdigit() also accepts "²", which int()
    # rejects, and a huge number overflows the float subtraction below.
    if not timestamp or not _UNIX_SECONDS.fullmatch(timestamp):
        raise PushRejected(403, f"timestamp={(timestamp or '')[:20]!r} must be Unix seconds, such as {int(time.time())}")
    age = time.time() - int(timestamp)
    if abs(age) > window:
        raise PushRejected(403, f"timestamp is {age:.0f} s from now, outside the {window} s window")


async def _read_capped(request: Request, limit: int) -> bytes:
    """Read the body, stopping with 413 as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PushRejected(413, f"the body is {declared} bytes, over the {limit}-byte limit")

    # Content-Length can be absent (chunked) or wrong, so the stream is counted too.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PushRejected(413, f"the body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes) -> dict[str, Any]:
    try:
        return parse_message(body)
    except PushFormatError as exc:
        raise PushRejected(400, str(exc)) from None


def _open_envelope(ctx: AppContext, envelope: dict[str, Any], msg_signature: str | None, timestamp: str, nonce: str) -> dict[str, Any]:
    """Return the fields inside a secure-mode envelope after checking ``msg_signature`` and the appid."""
    settings = ctx.settings
    encrypt = envelope.get("Encrypt")
    if not isinstance(encrypt, str) or not encrypt:
        raise PushRejected(400, "encrypt_type=aes but the body has no Encrypt")

    if not settings.aes_key:
        # Compatible mode also carries the plaintext fields, which the plain signature
        # already covered as far as plaintext mode ever does.
        if envelope.get("MsgType"):
            return {name: value for name, value in envelope.items() if name != "Encrypt"}
        logger.error("WXCARD_AES_KEY is not set, so a secure-mode push cannot be decrypted; set it to the EncodingAESKey")
        raise PushRejected(400, "the server has no EncodingAESKey configured")

    if not msg_signature:
        raise PushRejected(403, "msg_signature is required with encrypt_type=aes")
    if not signatures_match(push_signature(settings.token, timestamp, nonce, encrypt), msg_signature):
        raise PushRejected(403, "invalid msg_signature")

    try:
        message = PushCrypto(settings.aes_key, settings.appid).decrypt(encrypt)
    except SecureModeError as exc:
        status = 403 if exc.code == -40005 else 400
        raise PushRejected(status, f"secure-mode message rejected: {exc}") from None
    return _parse(message.encode("utf-8"))


async def _store_event(ctx: AppContext, fields: dict[str, Any]) -> None:
    event_id = event_id_for(fields)
    forward = bool(ctx.settings.webhook_url)
    try:
        added = await ctx.store.add_event(event_id, fields, time.time(), forward)
    except Exception:
        # Without a stored copy the push must not be acknowledged; 503 makes Weixin retry.
        logger.exception("event not stored event_id=%s event=%s", event_id, fields.get("Event"))
        raise PushRejected(503, "the event could not be stored; retry later") from None

    if not added:
        logger.info("duplicate push acknowledged event_id=%s event=%s", event_id, fields.get("Event"))
        return
    logger.info(
        "event stored event_id=%s event=%s card_id=%s openid=%s",
        event_id,
        fields.get("Event"),
        fields.get("CardId", ""),
        fields.get("FromUserName"),
    )
    forwarder = _forwarders.get(id(ctx))
    if forwarder is not None:
        forwarder.wake()


async def startup(ctx: AppContext) -> None:
    """Warn when stored events are not durable, and start forwarding them when ``WXCARD_WEBHOOK_URL`` is set."""
    settings = ctx.settings
    try:
        warning = await ctx.store.durability_warning()
    except Exception as exc:  # noqa: BLE001 - a store outage at start-up must not stop the server
        warning = f"could not check the store's durability: {type(exc).__name__}: {exc}"
    if warning:
        logger.warning("event store durability: %s", warning)

    if not settings.webhook_url:
        return
    if not settings.webhook_url.startswith(("https://", "http://")):
        logger.error("WXCARD_WEBHOOK_URL must be an http(s) URL; events are queued but not forwarded")
        return
    if not settings.secret_key:
        logger.error("WXCARD_SECRET_KEY is not set, so webhook requests cannot be signed; events are queued but not forwarded")
        return
    forwarder = WebhookForwarder(ctx.store, settings.webhook_url, settings.secret_key, settings.http_timeout)
    forwarder.start()
    _forwarders[id(ctx)] = forwarder


async def shutdown(ctx: AppContext) -> None:
    forwarder = _forwarders.pop(id(ctx), None)
    if forwarder is not None:
        await forwarder.stop()


routes = [Route("/weixin/events", weixin_events, methods=["GET", "POST"])]
