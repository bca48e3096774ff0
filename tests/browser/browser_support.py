"""Chromium, page routing and screenshots for the browser tests.

Pages may reach only loopback servers. A request for the configured JS-SDK URL gets the
official JS-SDK from the npm cache, and every other request to another host is aborted.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = ROOT / "docs" / "screenshots"
PHONE_VIEWPORT = {"width": 390, "height": 844}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = "install it with `apt-get install chromium` (Debian's package; Playwright's own download is not used)"


def chromium_path() -> Path | None:
    """Return Debian's Chromium, or ``$WXCARD_CHROMIUM`` when set; None when it is missing."""
    configured = os.environ.get("WXCARD_CHROMIUM")
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def browser_required() -> bool:
    """True when a missing browser must fail the run instead of skipping the browser tests (CI)."""
    return os.environ.get("WXCARD_TEST_BROWSER") == "1"


def launch_chromium(playwright: Playwright, executable: Path) -> Browser:
    return playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)


@dataclass
class RequestGuard:
    """Serves the JS-SDK at ``jssdk_url``, lets loopback requests through and aborts the rest."""

    jssdk_url: str
    jssdk_script: str
    blocked: list[str] = field(default_factory=list)
    jssdk_served: int = 0

    def install(self, context: BrowserContext) -> None:
        context.route("**/*", self._handle)

    def _handle(self, route: Route) -> None:
        url = route.request.url
        if url.split("#")[0] == self.jssdk_url:
            self.jssdk_served += 1
            route.fulfill(status=200, content_type="application/javascript; charset=utf-8", body=self.jssdk_script)
            return
        if urlsplit(url).hostname in LOOPBACK_HOSTS:
            route.continue_()
            return
        self.blocked.append(url)
        logger.info("blocked a request to another host: %s", url)
        route.abort("blockedbyclient")


def screenshots_enabled() -> bool:
    return os.environ.get("WXCARD_SCREENSHOTS") == "1"


def save_screenshot(page: Page, name: str) -> Path | None:
    """Write what ``page`` shows in its viewport to ``docs/screenshots/<name>.png`` when screenshots are on."""
    if not screenshots_enabled():
        return None
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    # Wait for web fonts, so that Chinese text is drawn with the CJK font and not a fallback box.
    page.evaluate("() => document.fonts.ready.then(() => true)")
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    logger.info("screenshot saved to %s", path)
    return path
