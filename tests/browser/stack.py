"""The servers of a browser test: the sandbox, our backend and a merchant's page, all on loopback.

``start_stack`` creates the HelloWorld hotpot card in the sandbox through our real client,
writes a campaign file whose ``redirect_to`` is the merchant page, starts the backend
against the sandbox and points the sandbox's event pushes at the backend's receiver.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from h5.app import create_app
from h5.client import WeixinClient
from h5.config import Settings
from h5.context import ROOT
from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.sandbox.server import SandboxServer
from h5.serving import ThreadedServer
from h5.store import open_store
from h5.cli.demo_cmd import hotpot_card
from h5.merchant_demo import MerchantPage

logger = logging.getLogger(__name__)

EXAMPLES = ROOT / "examples"
CAMPAIGN = "hotpot"
PUSH_TOKEN = "wxcardbrowsertoken"
PUSH_PATH = "/weixin/events"


class DeferredApp:
    """An ASGI app whose target is set after its server has bound a port.

    The card's custom URL needs the backend's address, and the backend reads the card_id
    from the campaign file when it is created, so the port must be known first.
    """

    def __init__(self) -> None:
        self.target: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await self.target(scope, receive, send)


@dataclass
class Stack:
    """Running servers and the settings the backend uses."""

    sandbox: SandboxServer
    backend: ThreadedServer
    merchant: MerchantPage
    merchant_server: ThreadedServer
    settings: Settings
    env: dict[str, str]
    card_id: str

    @property
    def backend_base(self) -> str:
        return self.backend.base_url

    def landing_url(self, **query: str) -> str:
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{self.backend_base}/cards/{CAMPAIGN}{suffix}"

    def sandbox_json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.sandbox.base_url}{path}", timeout=10, **kwargs)
        assert response.status_code == 200, f"sandbox {method} {path}: HTTP {response.status_code} {response.text[:300]}"
        return response.json()

    def stop(self) -> None:
        self.backend.stop()
        self.merchant_server.stop()
        self.sandbox.stop()


async def _create_card(sandbox_base: str, store_url: str, custom_url: str) -> str:
    store = open_store(store_url)
    try:
        async with WeixinClient(DEFAULT_APPID, DEFAULT_SECRET, store, sandbox_base) as client:
            logo_url = await client.upload_image("hotpot-logo.png", (EXAMPLES / "hotpot-logo.png").read_bytes(), "image/png")
            return await client.create_card(hotpot_card(custom_url, logo_url))
    finally:
        await store.close()


def start_stack(folder: Path) -> Stack:
    """Start the sandbox, the merchant page and the backend, with files kept in ``folder``."""
    sandbox = SandboxServer().start()
    merchant_key = secrets.token_urlsafe(24)
    merchant = MerchantPage(backend_base="", merchant_key=merchant_key)
    merchant_server = ThreadedServer(merchant.app(), name="merchant").start()
    deferred = DeferredApp()
    backend = ThreadedServer(deferred, name="backend")
    merchant.backend_base = backend.base_url

    store_url = f"sqlite:///{folder / 'wxcard.sqlite3'}"
    custom_url = f"{backend.base_url}/cards/redirect?campaign={CAMPAIGN}"
    # A thread of its own, because Playwright's sync API keeps an asyncio loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as executor:
        card_id = executor.submit(asyncio.run, _create_card(sandbox.base_url, store_url, custom_url)).result()
    # Weixin reviews a new card before users can receive it; the sandbox approves on request.
    httpx.post(f"{sandbox.base_url}/sandbox/cards/{card_id}/status", json={"status": "CARD_STATUS_VERIFY_OK"}, timeout=10).raise_for_status()

    campaigns = folder / "campaigns.toml"
    campaigns.write_text(
        f'[campaigns.{CAMPAIGN}]\ncards = ["{card_id}"]\nredirect_to = "{merchant_server.base_url}/shop"\n',
        encoding="utf-8",
    )
    env = {
        "WXCARD_APPID": DEFAULT_APPID,
        "WXCARD_APPSECRET": DEFAULT_SECRET,
        "WXCARD_API_BASE": sandbox.base_url,
        "WXCARD_CAMPAIGNS": str(campaigns),
        "WXCARD_STORE": store_url,
        "WXCARD_SECRET_KEY": secrets.token_urlsafe(32),
        "WXCARD_PUBLIC_HOSTS": "127.0.0.1,localhost",
        "WXCARD_TOKEN": PUSH_TOKEN,
        "WXCARD_MERCHANT_KEY": merchant_key,
    }
    settings = Settings.from_env(env)
    deferred.target = create_app(settings)
    backend.start()

    push = httpx.post(
        f"{sandbox.base_url}/sandbox/push-config",
        json={"url": f"{backend.base_url}{PUSH_PATH}", "mode": "plaintext", "token": PUSH_TOKEN},
        timeout=10,
    )
    if push.status_code != 200:
        # The journey test checks the pushed events and fails there with its own message.
        logger.warning("the sandbox did not take the push configuration: HTTP %d %s", push.status_code, push.text[:200])
    logger.info("browser stack started backend=%s sandbox=%s card_id=%s", backend.base_url, sandbox.base_url, card_id)
    return Stack(sandbox, backend, merchant, merchant_server, settings, env, card_id)


def stored_events(store_url: str, event_type: str | None = None) -> list[dict[str, Any]]:
    """Return the Weixin fields of the events stored in the backend's store, oldest first."""

    async def read() -> list[dict[str, Any]]:
        store = open_store(store_url)
        try:
            return [stored.fields for stored in await store.list_events(event_type=event_type)]
        finally:
            await store.close()

    # A thread of its own, because Playwright's sync API keeps an asyncio loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, read()).result()


def wait_for_events(store_url: str, event_type: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Poll the store until it contains ``count`` events of ``event_type``, and return them.

    The sandbox pushes events over HTTP from its own thread, so they land shortly after
    the call that caused them. On timeout the events found so far are returned.
    """
    deadline = time.monotonic() + timeout
    while True:
        events = stored_events(store_url, event_type)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.05)
