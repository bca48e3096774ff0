"""wx.addCard waits for Weixin to verify the page's current wx.config.

On Android the page signs again after history.pushState. A tap made before that change
may still be loading its card-ext list when the new wx.config is sent. The list then waits
for the new verification, and a late list never replaces a failed wx.config's message.
"""

from __future__ import annotations

import time
from typing import Callable

import pytest
from playwright.sync_api import Route

from h5.i18n import ZH
from h5.landing_texts import PAGE
from tests.browser.user_agents import WEIXIN_ANDROID

pytestmark = pytest.mark.browser

OUTER_STR = "ch_timing"
PUSH_STATE = "history.pushState({view: 'detail'}, '', location.pathname + location.search + '&view=detail')"

# Runs after the bridge double: records every bridge call by name, in call order.
BRIDGE_LOG = """
(() => {
  const bridge = window.WeixinJSBridge;
  if (!bridge) {
    return;
  }
  window.__bridgeLog = [];
  const invoke = bridge.invoke;
  bridge.invoke = function (name) {
    window.__bridgeLog.push(name);
    return invoke.apply(this, arguments);
  };
})();
"""

# Marks each finished XMLHttpRequest. The page sets onreadystatechange before send(), so
# this listener, added in send(), runs after the page's own handler has run.
XHR_DONE = """
(() => {
  window.__xhrDone = [];
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function () {
    this.addEventListener('readystatechange', () => {
      if (this.readyState === 4) {
        window.__xhrDone.push(this.responseURL);
      }
    });
    return send.apply(this, arguments);
  };
})();
"""


class HeldRequests:
    """Holds the first request of each route name until the test releases it; later ones pass."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}

    def handler(self, name: str) -> Callable[[Route], None]:
        def handle(route: Route) -> None:
            if name in self.routes:
                route.continue_()
            else:
                self.routes[name] = route

        return handle

    def wait_for(self, page, name: str, timeout: float = 10.0) -> Route:
        deadline = time.monotonic() + timeout
        while name not in self.routes and time.monotonic() < deadline:
            page.wait_for_timeout(20)
        assert name in self.routes, f"the page sent no {name} request within {timeout} s"
        return self.routes[name]


def open_android_page(open_phone, stack):
    session = open_phone(WEIXIN_ANDROID, stack.settings.jssdk_url, sandbox_base=stack.sandbox.base_url)
    session.context.add_init_script(BRIDGE_LOG + XHR_DONE)
    page = session.page
    page.goto(stack.landing_url(outer_str=OUTER_STR))
    page.wait_for_selector("body[data-state='ready']")
    return session, page


def tap_then_push_state(page, requests: HeldRequests) -> None:
    """Tap Add while card-ext and the re-signed jssdk config are both held back."""
    page.route("**/card-ext*", requests.handler("card_ext"))
    page.route("**/jssdk/config?*", requests.handler("config"))
    page.get_by_role("button", name=PAGE["add_button"][ZH]).tap()
    requests.wait_for(page, "card_ext")
    page.evaluate(PUSH_STATE)
    requests.wait_for(page, "config")


def release_card_ext(page, requests: HeldRequests) -> None:
    requests.routes["card_ext"].continue_()
    page.wait_for_function("window.__xhrDone.some((url) => url.indexOf('/card-ext') >= 0)")


def test_card_ext_loaded_while_resigning_waits_for_verification(open_phone, stack) -> None:
    session, page = open_android_page(open_phone, stack)
    requests = HeldRequests()
    tap_then_push_state(page, requests)

    # The list arrives before the new wx.config is even sent: adding now would run unverified.
    release_card_ext(page, requests)
    assert "batchAddCard" not in page.evaluate("window.__bridgeLog")
    assert page.get_attribute("body", "data-state") == "adding"

    requests.routes["config"].continue_()
    page.wait_for_selector("body[data-state='added']")
    log = page.evaluate("window.__bridgeLog")
    verifications = [index for index, name in enumerate(log) if name == "preVerifyJSAPI"]
    assert len(verifications) == 2
    assert log.index("batchAddCard") > verifications[-1]
    assert [call.reply["err_msg"] for call in session.simulator.calls_named("batchAddCard")] == ["batch_add_card:ok"]


def test_card_ext_loaded_after_failed_config_adds_nothing(open_phone, stack) -> None:
    session, page = open_android_page(open_phone, stack)
    requests = HeldRequests()
    tap_then_push_state(page, requests)

    # The new wx.config fails while the list is still loading; the failure must stay shown.
    config_route = requests.routes["config"]
    response = config_route.fetch()
    config_route.fulfill(response=response, json={**response.json(), "signature": "0" * 40})
    page.wait_for_selector("body[data-state='config-failed']")

    release_card_ext(page, requests)
    assert "batchAddCard" not in page.evaluate("window.__bridgeLog")
    assert page.get_attribute("body", "data-state") == "config-failed"
    assert page.get_attribute("body", "data-error") == "invalid-signature"
    assert session.simulator.calls_named("batchAddCard") == []
