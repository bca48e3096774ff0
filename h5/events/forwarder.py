"""Forward stored events to the merchant's webhook from the store's outbox.

Each event is POSTed as JSON:

    {"id": "<event id>", "event": "user_get_card", "received_at": 1700000000.5,
     "fields": {<the push with Weixin's field names>},
     "data": {<the typed event with snake_case names>, or null for an unknown type}}

with these headers:

    X-Wxcard-Event-Id:  the event id, the same on every retry (deduplicate on it)
    X-Wxcard-Timestamp: Unix seconds when this attempt was signed
    X-Wxcard-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed by WXCARD_SECRET_KEY>

A 2xx response finishes the delivery. Any other status, or no response within twice the
HTTP timeout, is retried with exponential backoff (1 s doubling up to 5 minutes, with
jitter) and no attempt limit, so each event is delivered at least once. Pending entries
stay in the store across restarts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from urllib.parse import urlsplit

import httpx

from h5.events.model import RawEvent, parse_event
from h5.store import Delivery, Store, StoredEvent

logger = logging.getLogger(__name__)

BACKOFF_BASE = 1.0
BACKOFF_MAX = 300.0
POLL_INTERVAL = 1.0


def sign_webhook(secret_key: str, timestamp: str, body: bytes) -> str:
    """Return the ``X-Wxcard-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret_key.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def webhook_payload(event: StoredEvent) -> bytes:
    """Return the JSON body that forwards ``event``."""
    typed = parse_event(event.fields)
    payload = {
        "id": event.event_id,
        "event": event.fields.get("Event", ""),
        "received_at": event.received_at,
        "fields": event.fields,
        "data": None if isinstance(typed, RawEvent) else typed.to_dict(),
    }
    return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")


def backoff_delay(attempts: int) -> float:
    """Return seconds to wait after ``attempts`` failed attempts: doubling from 1 s, capped, with jitter."""
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** min(attempts - 1, 30))
    return ceiling * random.uniform(0.5, 1.0)


class WebhookForwarder:
    """A background task that delivers the outbox of ``store`` to ``url``."""

    def __init__(self, store: Store, url: str, secret_key: str, timeout: float = 5.0, lease: float | None = None) -> None:
        self.store = store
        self.url = url
        self.secret_key = secret_key
        self.timeout = timeout
        # httpx applies ``timeout`` to each phase (connect, write, each read), so a slow
        # merchant could stretch one attempt far beyond it. This deadline caps the whole attempt.
        self.attempt_deadline = 2 * timeout
        # A claimed entry becomes due again after the lease, in case this process dies
        # mid-attempt. The lease must outlast an attempt, or a second worker would claim
        # and deliver an entry that is still being delivered.
        self.lease = self.attempt_deadline + 10.0 if lease is None else lease
        if self.lease <= self.attempt_deadline:
            raise ValueError(f"lease={self.lease} s must exceed one attempt's deadline of {self.attempt_deadline} s")
        # Host and port only: the URL's user info and query may carry credentials.
        parts = urlsplit(url)
        self._host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        self._task = asyncio.create_task(self._run(), name="webhook-forwarder")
        logger.info("webhook forwarder started host=%s", self._host)

    def wake(self) -> None:
        """Start a delivery pass now instead of at the next poll."""
        self._wakeup.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._client is not None:
            await self._client.aclose()
        logger.info("webhook forwarder stopped host=%s", self._host)

    async def _run(self) -> None:
        while True:
            # Cleared before the pass, so a wake() during the pass starts another one at once.
            self._wakeup.clear()
            try:
                await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A store outage must not end the worker; the entries stay pending.
                logger.exception("webhook delivery pass failed host=%s; retrying in %.0f s", self._host, POLL_INTERVAL)
            try:
                await asyncio.wait_for(self._wakeup.wait(), POLL_INTERVAL)
            except asyncio.TimeoutError:
                pass

    async def deliver_due(self) -> int:
        """Deliver every entry due now; return how many were delivered."""
        delivered = 0
        while True:
            # One entry per claim: a batch would be delivered one after another, and the
            # last entries' leases could end before their turn, letting another worker
            # deliver them too.
            claimed = await self.store.claim_deliveries(time.time(), self.lease, limit=1)
            if not claimed:
                return delivered
            delivered += await self._deliver(claimed[0])

    async def _deliver(self, delivery: Delivery) -> int:
        event = await self.store.get_event(delivery.event_id)
        if event is None:
            logger.error("webhook delivery dropped event_id=%s: the event is not in the store", delivery.event_id)
            await self.store.finish_delivery(delivery.event_id, time.time())
            return 0

        body = webhook_payload(event)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Wxcard-Event-Id": event.event_id,
            "X-Wxcard-Timestamp": timestamp,
            "X-Wxcard-Signature": sign_webhook(self.secret_key, timestamp, body),
        }
        attempt = delivery.attempts + 1
        assert self._client is not None
        try:
            response = await asyncio.wait_for(self._client.post(self.url, content=body, headers=headers), self.attempt_deadline)
            error = "" if response.is_success else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except asyncio.TimeoutError:
            error = f"no response within {self.attempt_deadline:.0f} s"

        if not error:
            await self.store.finish_delivery(event.event_id, time.time())
            logger.info("webhook delivered event_id=%s event=%s attempt=%d", event.event_id, event.fields.get("Event"), attempt)
            return 1

        delay = backoff_delay(attempt)
        await self.store.reschedule_delivery(event.event_id, attempt, time.time() + delay, error)
        logger.warning(
            "webhook delivery failed event_id=%s host=%s attempt=%d error=%s; retrying in %.1f s",
            event.event_id,
            self._host,
            attempt,
            error,
            delay,
        )
        return 0
