"""In-memory state of the sandbox, usable from Python as well as over HTTP.

``SandboxState`` keeps apps, tokens, tickets, uploaded images, cards, codes, counters,
recorded requests, injected faults and event listeners. Every public method takes
``state.lock`` (a re-entrant ``threading.RLock``), so tests and helpers may call it from
any thread while the server runs. Methods that break a Weixin rule raise
``SandboxError`` with Weixin's errcode.

Time: ``state.now()`` is ``clock() + offset``. Pass ``clock=`` to the constructor to
inject a time function, or call ``state.advance(seconds)`` to move time forward without
sleeping (token and ticket expiry, grace periods and daily quotas all follow it).

Events: ``state.listeners`` is a list of callables, and ``state.emit(event)`` calls each
of them with a dict. The dict uses the field names of Weixin's XML push (``ToUserName``,
``FromUserName``, ``CreateTime``, ``MsgType``, ``Event``, ``CardId``, ...). Events are
emitted after the lock is released, so a listener may call the state again.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.sandbox.cards import CardMixin
from h5.sandbox.codes import CodeMixin
from h5.sandbox.errors import SandboxError
from h5.sandbox.tokens import TokenMixin

logger = logging.getLogger(__name__)

# Recorded requests kept for inspection; the oldest are dropped beyond this.
MAX_RECORDED_REQUESTS = 20_000
# Emitted events kept for GET /sandbox/events.
MAX_KEPT_EVENTS = 1000
# Query parameters never kept: cgi-bin/token takes the AppSecret as ``secret``.
SECRET_PARAMS = ("access_token", "secret")


def _redact_body(body: bytes) -> bytes:
    """Return ``body`` with the AppSecret of a cgi-bin/stable_token JSON body replaced by REDACTED."""
    if b'"secret"' not in body:
        return body
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body
    secret = value.get("secret") if isinstance(value, dict) else None
    if not isinstance(secret, str) or not secret:
        return body
    return body.replace(secret.encode("utf-8"), b"REDACTED")


@dataclass
class App:
    """An Official Account known to the sandbox."""

    appid: str
    secret: str
    original_id: str
    # Caller IPs allowed to fetch tokens; None allows every IP.
    ip_whitelist: set[str] | None = None


@dataclass
class Fault:
    """An injected failure for the next ``remaining`` calls of one API path."""

    path: str
    remaining: int
    errcode: int | None = None
    errmsg: str | None = None
    delay: float = 0.0
    http_status: int | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.path, "count": self.remaining, "errcode": self.errcode,
            "delay": self.delay, "http_status": self.http_status,
        }


@dataclass
class RecordedRequest:
    """One request to a Weixin API path, with the access_token removed from the query."""

    path: str
    method: str
    content_type: str
    body: bytes
    query: dict[str, str]
    time: float

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "method": self.method,
            "content_type": self.content_type,
            "body_b64": base64.b64encode(self.body).decode("ascii"),
            "query": self.query,
            "time": self.time,
        }


@dataclass
class Counters:
    token_fetches: int = 0
    stable_token_fetches: int = 0
    ticket_fetches: Counter = field(default_factory=Counter)
    calls: Counter = field(default_factory=Counter)


class SandboxState(TokenMixin, CardMixin, CodeMixin):
    """The sandbox's whole state; the module docstring explains time, locking and events."""

    def __init__(
        self,
        appid: str = DEFAULT_APPID,
        secret: str = DEFAULT_SECRET,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.offset = 0.0
        self.apps: dict[str, App] = {}
        self.counters = Counters()
        self.requests: deque[RecordedRequest] = deque(maxlen=MAX_RECORDED_REQUESTS)
        self.faults: dict[str, list[Fault]] = {}
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.events: deque[dict[str, Any]] = deque(maxlen=MAX_KEPT_EVENTS)
        # A per-sandbox AES key; encrypt_code values are AES-CBC of the code under it.
        self.code_key = secrets.token_bytes(32)
        TokenMixin.__init__(self)
        CardMixin.__init__(self)
        CodeMixin.__init__(self)
        self.register_app(appid, secret)

    # -- time ----------------------------------------------------------------------------

    def now(self) -> float:
        """Return the sandbox time in Unix seconds: the clock plus the advanced offset."""
        return self.clock() + self.offset

    def advance(self, seconds: float) -> float:
        """Move sandbox time forward by ``seconds`` and return the new time."""
        with self.lock:
            self.offset += seconds
            return self.now()

    # -- apps ----------------------------------------------------------------------------

    def register_app(
        self, appid: str, secret: str, original_id: str | None = None, ip_whitelist: set[str] | None = None
    ) -> App:
        """Add (or replace) an Official Account; ``original_id`` defaults to a random ``gh_`` id."""
        app = App(appid, secret, original_id or "gh_" + secrets.token_hex(6), ip_whitelist)
        with self.lock:
            self.apps[appid] = app
        logger.info("sandbox registered appid=%s original_id=%s", appid, app.original_id)
        return app

    def app(self, appid: str) -> App:
        """Return the registered app, or raise 40013 invalid appid."""
        with self.lock:
            found = self.apps.get(appid)
        if found is None:
            raise SandboxError(40013, f"invalid appid {appid!r}")
        return found

    @property
    def default_appid(self) -> str:
        """The first registered appid."""
        return next(iter(self.apps))

    # -- requests, counters and faults ---------------------------------------------------

    def record_request(
        self, path: str, method: str, content_type: str, body: bytes, query: dict[str, str]
    ) -> None:
        """Count and keep one Weixin API request, with the access_token and AppSecret replaced by REDACTED."""
        redacted = {key: ("REDACTED" if key in SECRET_PARAMS else value) for key, value in query.items()}
        with self.lock:
            self.counters.calls[path] += 1
            self.requests.append(RecordedRequest(path, method, content_type, _redact_body(body), redacted, self.now()))

    def recorded(self, path: str | None = None) -> list[RecordedRequest]:
        """Return recorded requests, oldest first, optionally only those of one path."""
        with self.lock:
            return [item for item in self.requests if path is None or item.path == path]

    def add_fault(
        self,
        path: str,
        errcode: int | None = None,
        count: int = 1,
        delay: float = 0.0,
        http_status: int | None = None,
        errmsg: str | None = None,
    ) -> Fault:
        """Make the next ``count`` calls of ``path`` fail.

        ``errcode`` returns that Weixin error, ``delay`` waits that many seconds before
        responding (for client timeouts), ``http_status`` returns a non-JSON HTTP error.
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if errcode is None and not delay and http_status is None:
            raise ValueError("a fault needs errcode, delay or http_status")
        if errcode is not None and (not isinstance(errcode, int) or isinstance(errcode, bool)):
            raise ValueError(f"errcode must be an integer Weixin errcode such as -1 or 45009, got {errcode!r}")
        if http_status is not None and (not isinstance(http_status, int) or not 400 <= http_status <= 599):
            raise ValueError(f"http_status must be an HTTP error status from 400 to 599, got {http_status!r}")
        fault = Fault(path.strip("/"), count, errcode, errmsg, float(delay), http_status)
        with self.lock:
            self.faults.setdefault(fault.path, []).append(fault)
        return fault

    def take_fault(self, path: str) -> Fault | None:
        """Use up one call of the oldest fault for ``path`` and return it, or None."""
        with self.lock:
            queue = self.faults.get(path)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
            return fault

    def stats(self) -> dict[str, Any]:
        """Return the counters as ``GET /sandbox/stats`` shows them."""
        with self.lock:
            return {
                "token_fetches": self.counters.token_fetches,
                "stable_token_fetches": self.counters.stable_token_fetches,
                "ticket_fetches": {
                    "jsapi": self.counters.ticket_fetches["jsapi"],
                    "wx_card": self.counters.ticket_fetches["wx_card"],
                },
                "calls": dict(self.counters.calls),
            }

    # -- events --------------------------------------------------------------------------

    def event(self, appid: str, openid: str, name: str, **fields: Any) -> dict[str, Any]:
        """Build an event dict with Weixin's push field names."""
        return {
            "ToUserName": self.app(appid).original_id,
            "FromUserName": openid,
            "CreateTime": int(self.now()),
            "MsgType": "event",
            "Event": name,
            **fields,
        }

    def emit(self, event: dict[str, Any]) -> None:
        """Keep ``event`` and call every listener with it; a failing listener is logged and skipped."""
        with self.lock:
            self.events.append(event)
            listeners = list(self.listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("sandbox event listener %r failed on event=%s", listener, event.get("Event"))
