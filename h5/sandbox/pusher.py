"""The sandbox pushing events to a server URL, as Weixin pushes card events.

``pusher_for(state)`` returns the one ``EventPusher`` of a ``SandboxState`` and registers
it as a listener. Once configured with a URL, it POSTs every emitted event there:

* plaintext mode: the event as ``<xml>`` with CDATA values; the query has ``signature``,
  ``timestamp``, ``nonce`` and ``openid``;
* secure mode: ``<xml><ToUserName/><Encrypt/></xml>``, and the query adds
  ``encrypt_type=aes`` and ``msg_signature`` (sha1 of the sorted token, timestamp, nonce
  and Encrypt).

Like Weixin it waits 5 s for a response and makes 3 attempts in total, re-sending the same
request. Pushes run one at a time on a background thread, in emission order, so an API
call that emits an event returns without waiting for the push.

Signing and encryption are written here with ``hashlib`` and ``cryptography`` rather than
with the ``signer`` package, so that a mistake in the signer cannot hide itself.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import queue
import re
import secrets
import struct
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

if TYPE_CHECKING:
    from h5.sandbox.state import SandboxState

logger = logging.getLogger(__name__)

PUSH_MODES = ("plaintext", "secure")
# Weixin waits 5 s for the server and tries 3 times in total.
PUSH_TIMEOUT = 5.0
PUSH_ATTEMPTS = 3
# Push outcomes kept for GET /sandbox/push-config.
MAX_KEPT_DELIVERIES = 200
# An EncodingAESKey is 43 ASCII letters and digits (str.isalnum would also pass non-ASCII letters).
ENCODING_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")


@dataclass(frozen=True)
class PushConfig:
    """Push target: server URL, mode, token and, in secure mode, ``encoding_aes_key``."""

    url: str
    mode: str = "plaintext"
    token: str = field(default="", repr=False)
    encoding_aes_key: str = field(default="", repr=False)
    timeout: float = PUSH_TIMEOUT

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"push url {self.url!r} must be an http(s) URL such as http://127.0.0.1:8000/weixin/events")
        if self.mode not in PUSH_MODES:
            raise ValueError(f"push mode {self.mode!r} must be plaintext or secure")
        if not self.token:
            raise ValueError("push token is missing; give the Token the server checks (WXCARD_TOKEN)")
        if self.mode == "secure" and not ENCODING_AES_KEY.fullmatch(self.encoding_aes_key):
            raise ValueError("secure mode needs encoding_aes_key: the 43-character EncodingAESKey (WXCARD_AES_KEY)")
        if not 0 < self.timeout <= 60:
            raise ValueError(f"push timeout {self.timeout!r} must be between 0 and 60 seconds")

    def describe(self) -> dict[str, Any]:
        """Return the configuration without the token and key."""
        return {"url": self.url, "mode": self.mode, "timeout": self.timeout}


def sha1_signature(*values: str) -> str:
    """Return the sha1 hex of the sorted ``values`` joined without separator, as Weixin signs pushes."""
    return hashlib.sha1("".join(sorted(values)).encode("utf-8")).hexdigest()


def encrypt_message(encoding_aes_key: str, appid: str, message: str) -> str:
    """Return the base64 ``Encrypt`` of ``message`` for ``appid``, as Weixin's secure mode builds it.

    AES-256-CBC with the key base64-decoded from the EncodingAESKey plus ``=``, the IV its
    first 16 bytes; plaintext = 16 random bytes, 4-byte big-endian length, message, appid,
    padded PKCS#7 style to a multiple of 32 bytes.
    """
    key = base64.b64decode(encoding_aes_key + "=")
    body = message.encode("utf-8")
    plain = os.urandom(16) + struct.pack(">I", len(body)) + body + appid.encode("utf-8")
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")


def event_xml(event: dict[str, Any]) -> str:
    """Return the push XML of ``event``: numbers bare, text in CDATA."""
    parts = []
    for name, value in event.items():
        if isinstance(value, int) and not isinstance(value, bool):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            text = str(value).replace("]]>", "]]]]><![CDATA[>")
            parts.append(f"<{name}><![CDATA[{text}]]></{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def build_push(config: PushConfig, appid: str, event: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """Return the query and body Weixin would send for ``event`` under ``config``."""
    timestamp = str(int(time.time()))
    nonce = str(secrets.randbelow(10**10))
    query = {
        "signature": sha1_signature(config.token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": str(event.get("FromUserName", "")),
    }
    message = event_xml(event)
    if config.mode == "plaintext":
        return query, message.encode("utf-8")

    encrypt = encrypt_message(config.encoding_aes_key, appid, message)
    query["encrypt_type"] = "aes"
    query["msg_signature"] = sha1_signature(config.token, timestamp, nonce, encrypt)
    body = f"<xml><ToUserName><![CDATA[{event.get('ToUserName', '')}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return query, body.encode("utf-8")


class EventPusher:
    """A state listener that pushes each emitted event to the configured server URL."""

    def __init__(self, state: "SandboxState") -> None:
        self._state = weakref.ref(state)
        self.config: PushConfig | None = None
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=MAX_KEPT_DELIVERIES)
        self._queue: queue.Queue[tuple[PushConfig, str, dict[str, Any]]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def configure(self, config: PushConfig | None) -> None:
        """Push later events under ``config``; None stops pushing."""
        with self._lock:
            self.config = config
        logger.info("sandbox push configured %s", config.describe() if config else "off")

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            config = self.config
            if config is None:
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="sandbox-pusher", daemon=True)
                self._thread.start()
        self._queue.put((config, self._appid_for(event), dict(event)))

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every queued push finished; return False if ``timeout`` seconds passed first."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _appid_for(self, event: dict[str, Any]) -> str:
        # Events name the account by its original id (gh_...); secure mode needs the appid.
        state = self._state()
        if state is None:
            return ""
        with state.lock:
            for app in state.apps.values():
                if app.original_id == event.get("ToUserName"):
                    return app.appid
            return state.default_appid

    def _work(self) -> None:
        with httpx.Client(trust_env=False, follow_redirects=False) as client:
            while True:
                config, appid, event = self._queue.get()
                try:
                    self._deliver(client, config, appid, event)
                except Exception:
                    logger.exception("sandbox push failed event=%s", event.get("Event"))
                finally:
                    self._queue.task_done()

    def _deliver(self, client: httpx.Client, config: PushConfig, appid: str, event: dict[str, Any]) -> None:
        query, body = build_push(config, appid, event)
        outcome: dict[str, Any] = {"event": event.get("Event"), "card_id": event.get("CardId"), "attempts": 0}
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            outcome["attempts"] = attempt
            try:
                response = client.post(
                    config.url, params=query, content=body, timeout=config.timeout,
                    headers={"Content-Type": "text/xml; charset=utf-8"},
                )
            except httpx.HTTPError as exc:
                outcome.update(status=None, error=f"{type(exc).__name__}: {exc}")
                logger.warning(
                    "sandbox push attempt %d/%d failed event=%s: %s", attempt, PUSH_ATTEMPTS, event.get("Event"), outcome["error"],
                )
                continue
            outcome.update(status=response.status_code, reply=response.text[:200], error=None)
            # NOTE: Weixin documents retries only for a missing response; 5xx is retried here as well.
            if response.status_code < 500:
                break
            logger.warning(
                "sandbox push attempt %d/%d got HTTP %d event=%s", attempt, PUSH_ATTEMPTS, response.status_code, event.get("Event"),
            )
        logger.info(
            "sandbox pushed event=%s card_id=%s status=%s attempts=%d",
            event.get("Event"), event.get("CardId"), outcome.get("status"), outcome["attempts"],
        )
        self.deliveries.append(outcome)


_pushers: "weakref.WeakKeyDictionary[SandboxState, EventPusher]" = weakref.WeakKeyDictionary()
_pushers_lock = threading.Lock()


def pusher_for(state: "SandboxState") -> EventPusher:
    """Return the pusher of ``state``, creating it and adding it to ``state.listeners`` once."""
    with _pushers_lock:
        pusher = _pushers.get(state)
        if pusher is None:
            pusher = EventPusher(state)
            _pushers[state] = pusher
            with state.lock:
                state.listeners.append(pusher)
        return pusher
