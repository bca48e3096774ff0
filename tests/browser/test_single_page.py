"""A single-page flow: the landing page changes its URL with history.pushState.

Android Weixin checks wx.config against the URL the page shows now, so the page must sign
again after the change; iOS Weixin keeps checking the URL the page was entered with. The
bridge double checks the same URL as the real client of each platform.
"""

from __future__ import annotations

import time

import pytest

from h5.i18n import ZH
from h5.landing_texts import PAGE
from tests.browser.user_agents import WEIXIN_ANDROID, WEIXIN_IOS

pytestmark = pytest.mark.browser

OUTER_STR = "ch_spa"
PUSH_STATE = "history.pushState({view: 'detail'}, '', location.pathname + location.search + '&view=detail')"


def wait_for_config_calls(session, count: int, timeout: float = 10.0) -> list:
    """Let the page run until the bridge double has seen ``count`` wx.config calls."""
    deadline = time.monotonic() + timeout
    while len(session.simulator.calls_named("preVerifyJSAPI")) < count and time.monotonic() < deadline:
        session.page.wait_for_timeout(50)
    return session.simulator.calls_named("preVerifyJSAPI")


def open_ready_page(open_phone, stack, user_agent: str):
    session = open_phone(user_agent, stack.settings.jssdk_url, sandbox_base=stack.sandbox.base_url)
    entry_url = stack.landing_url(outer_str=OUTER_STR)
    session.page.goto(entry_url)
    session.page.wait_for_selector("body[data-state='ready']")
    return session, entry_url


def test_android_signs_url_after_push_state(open_phone, stack) -> None:
    session, entry_url = open_ready_page(open_phone, stack, WEIXIN_ANDROID)
    page = session.page

    page.evaluate(PUSH_STATE)
    current_url = entry_url + "&view=detail"
    assert page.url == current_url
    first, second = wait_for_config_calls(session, 2)
    assert first.url == entry_url
    assert second.url == current_url
    assert second.reply == {"err_msg": "pre_verify_jsapi:ok"}

    page.wait_for_selector("body[data-state='ready']")
    page.get_by_role("button", name=PAGE["add_button"][ZH]).tap()
    page.wait_for_selector("body[data-state='added']")
    assert len(session.simulator.added_cards()) == 1


def test_ios_keeps_entry_url_after_push_state(open_phone, stack) -> None:
    session, entry_url = open_ready_page(open_phone, stack, WEIXIN_IOS)
    page = session.page

    page.evaluate(PUSH_STATE)
    assert page.url == entry_url + "&view=detail"
    page.get_by_role("button", name=PAGE["add_button"][ZH]).tap()
    page.wait_for_selector("body[data-state='added']")

    # Every wx.config the page made was checked against the entry URL, and passed.
    calls = session.simulator.calls_named("preVerifyJSAPI")
    assert [call.url for call in calls] == [entry_url] * len(calls)
    assert all(call.reply == {"err_msg": "pre_verify_jsapi:ok"} for call in calls)
    assert len(session.simulator.added_cards()) == 1


def test_android_tap_right_after_push_state(open_phone, stack) -> None:
    session, _ = open_ready_page(open_phone, stack, WEIXIN_ANDROID)
    page = session.page

    # The user taps while the page is signing its new URL; the card must still be added.
    page.evaluate(f"{PUSH_STATE}; document.getElementById('add-card').click()")
    page.wait_for_selector("body[data-state='added'], body[data-state='failed']")
    rejected = [call.reply for call in session.simulator.calls_named("batchAddCard") if call.reply.get("err_msg") != "batch_add_card:ok"]
    assert rejected == []
    assert page.get_attribute("body", "data-state") == "added"


def test_android_failed_resign_shown(open_phone, stack) -> None:
    session, _ = open_ready_page(open_phone, stack, WEIXIN_ANDROID)
    page = session.page

    def forge(route) -> None:
        response = route.fetch()
        route.fulfill(response=response, json={**response.json(), "signature": "0" * 40})

    # Only the signature for the new URL is forged; the first wx.config passed.
    page.route("**/jssdk/config?*", forge)
    page.evaluate(PUSH_STATE)
    page.wait_for_selector("body[data-state='config-failed']")
    assert page.get_attribute("body", "data-error") == "invalid-signature"
    assert page.get_by_role("button", name=PAGE["add_button"][ZH]).is_disabled()
    replies = [call.reply["err_msg"] for call in session.simulator.calls_named("preVerifyJSAPI")]
    assert replies == ["pre_verify_jsapi:ok", "pre_verify_jsapi:fail_invalid signature"]
