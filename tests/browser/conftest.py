"""Fixtures of the browser tests: Chromium, the npm packages and phone-sized pages.

Without Chromium or npm the browser tests are skipped with a message saying what to
install. With ``WXCARD_TEST_BROWSER=1`` (set by ``.ci/run``) they fail instead, so CI
cannot pass without running them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.browser import npm_packages
from tests.browser.bridge import ClientSimulator
from tests.browser.browser_support import (
    INSTALL_HINT,
    PHONE_VIEWPORT,
    RequestGuard,
    browser_required,
    chromium_path,
    launch_chromium,
    save_screenshot,
)
from tests.browser.stack import Stack, start_stack
from tests.browser.user_agents import PLATFORMS


def _unavailable(message: str) -> None:
    if browser_required():
        pytest.fail(f"{message} (WXCARD_TEST_BROWSER=1 requires the browser tests to run)", pytrace=False)
    pytest.skip(message)


# Module scope, because Playwright's sync API keeps an asyncio loop running in this thread
# until it stops, and asyncio.run in any later test of the session would then fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, shared by the browser tests of one module."""
    executable = chromium_path()
    if executable is None:
        _unavailable(f"Chromium not found; {INSTALL_HINT}")
    with sync_playwright() as playwright:
        instance = launch_chromium(playwright, executable)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def npm_cache() -> Path:
    """The cache folder with ``weixin-js-sdk`` and ``axe-core``, installed on first use."""
    try:
        return npm_packages.ensure_installed()
    except npm_packages.NpmUnavailable as exc:
        _unavailable(str(exc))
        raise


@pytest.fixture(scope="session")
def jssdk_script(npm_cache: Path) -> str:
    return npm_packages.jssdk_source(npm_cache)


@pytest.fixture(scope="session")
def axe_script(npm_cache: Path) -> str:
    return npm_packages.axe_script(npm_cache)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The sandbox, the backend with the hotpot campaign and the merchant page, for one test module."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


class PhoneSession:
    """One browser context as a phone: a user agent, the request guard and, in Weixin, the bridge double."""

    def __init__(self, context: BrowserContext, guard: RequestGuard, simulator: ClientSimulator | None) -> None:
        self.context = context
        self.guard = guard
        self.simulator = simulator
        self.page: Page = context.new_page()
        self.console_errors: list[str] = []
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def screenshot(self, name: str) -> Path | None:
        """Check that the page state fits the phone's width, then save it as ``<name>.png`` when screenshots are on."""
        width = self.page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_VIEWPORT["width"], f"{name}: the page is {width} px wide and scrolls sideways on a {PHONE_VIEWPORT['width']} px phone"
        return save_screenshot(self.page, name)


@pytest.fixture
def open_phone(browser: Browser, jssdk_script: str) -> Iterator[Callable[..., PhoneSession]]:
    """Return ``open_phone(user_agent, jssdk_url, sandbox_base=None)``.

    With ``sandbox_base`` the context gets the WeixinJSBridge double, as inside a Weixin
    client; without it the page runs as in a plain browser.
    """
    sessions: list[PhoneSession] = []

    def open_session(user_agent: str, jssdk_url: str, sandbox_base: str | None = None, locale: str = "zh-CN") -> PhoneSession:
        context = browser.new_context(
            user_agent=user_agent,
            viewport=PHONE_VIEWPORT,
            device_scale_factor=1,
            is_mobile=user_agent not in PLATFORMS,
            has_touch=user_agent not in PLATFORMS,
            locale=locale,
            service_workers="block",
        )
        guard = RequestGuard(jssdk_url, jssdk_script)
        guard.install(context)
        if user_agent in PLATFORMS:
            # The JS-SDK distinguishes desktops from phones by navigator.platform, which Chromium sets from the host.
            context.add_init_script(f"Object.defineProperty(navigator, 'platform', {{get: () => '{PLATFORMS[user_agent]}'}});")
        simulator = None
        if sandbox_base is not None:
            simulator = ClientSimulator(sandbox_base)
            simulator.install(context)
        session = PhoneSession(context, guard, simulator)
        sessions.append(session)
        return session

    yield open_session
    for session in sessions:
        session.context.close()
