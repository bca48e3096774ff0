"""The backend's Starlette app: landing pages, the custom-entry redirect and the event receiver.

Each feature module exposes ``routes``, and may expose ``async startup(ctx)`` and
``async shutdown(ctx)`` for background work; ``create_app`` mounts them all.
"""

from __future__ import annotations

import contextlib
import logging
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from h5 import landing, redirect
from h5.campaigns import load_campaigns
from h5.client import WeixinClient
from h5.config import Settings
from h5.context import STATIC_DIR, AppContext
from h5.events import receiver
from h5.store import Store, open_store

logger = logging.getLogger(__name__)

# The redirect comes before the landing page, whose /cards/{campaign} would also match
# /cards/redirect; Starlette uses the first route that matches.
FEATURES = (redirect, landing, receiver)


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def build_context(settings: Settings, store: Store | None = None) -> AppContext:
    """Open the store and client and read the campaign file; raises on an invalid campaign file."""
    store = store or open_store(settings.store_url)
    client = WeixinClient(settings.appid, settings.appsecret, store, settings.api_base, timeout=settings.http_timeout)
    return AppContext(settings=settings, store=store, client=client, campaigns=load_campaigns(settings.campaigns_path))


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    """Build the backend app for ``settings``; ``store`` overrides ``WXCARD_STORE`` (tests)."""
    ctx = build_context(settings, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        logger.info("backend starting appid=%s campaigns=%d", settings.appid, len(ctx.campaigns))
        for feature in FEATURES:
            if hasattr(feature, "startup"):
                await feature.startup(ctx)
        try:
            yield
        finally:
            for feature in reversed(FEATURES):
                if hasattr(feature, "shutdown"):
                    await feature.shutdown(ctx)
            await ctx.client.aclose()
            await ctx.store.close()
            logger.info("backend stopped appid=%s", settings.appid)

    routes = [Route("/healthz", healthz)]
    for feature in FEATURES:
        routes.extend(feature.routes)
    routes.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"))

    app = Starlette(routes=routes, lifespan=lifespan)
    # Starlette would respond to "/cards/x/" with a redirect built from the Host header, which
    # anyone can set; an unknown path gets a 404 instead.
    app.router.redirect_slashes = False
    app.state.ctx = ctx
    return app
