"""The landing page for every client class, each with the checks its page needs.

Weixin on phones gets the Add button and the outcome of wx.config and wx.addCard in plain
words. Other clients get a notice and, where it helps, a QR code of the page, which must
decode to the page's URL.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Route

from h5.i18n import EN, ZH
from h5.landing_texts import PAGE, SCRIPT
from tests.browser.browser_support import browser_required
from tests.browser.stack import stored_events
from tests.browser.user_agents import (
    MINI_PROGRAM_IOS,
    SAFARI_IOS,
    WECOM_IOS,
    WEIXIN_ANDROID,
    WEIXIN_IOS,
    WEIXIN_IOS_EN,
    WEIXIN_MAC,
    WEIXIN_OUTDATED,
    WEIXIN_WINDOWS,
)

pytestmark = pytest.mark.browser

OUTER_STR = "ch_clients"


def decode_qr(image: Path) -> str:
    """Return the text of the QR code in ``image``, decoded by zbarimg from zbar-tools."""
    zbarimg = shutil.which("zbarimg")
    if zbarimg is None:
        message = "zbarimg not found; install it with `apt-get install zbar-tools`"
        if browser_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    result = subprocess.run([zbarimg, "--raw", "-q", str(image)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, f"zbarimg found no QR code in {image}: {result.stderr}"
    return result.stdout.strip()


def open_landing(open_phone, stack, user_agent: str, in_weixin: bool = True, **query: str):
    sandbox_base = stack.sandbox.base_url if in_weixin else None
    session = open_phone(user_agent, stack.settings.jssdk_url, sandbox_base=sandbox_base)
    url = stack.landing_url(outer_str=OUTER_STR, **query)
    session.page.goto(url)
    return session, url


def forge_signature(route: Route, field_path: str) -> None:
    """Pass the backend's response on with one signature changed, as a tampered page would."""
    response = route.fetch()
    data = response.json()
    if field_path == "config":
        data["signature"] = "0" * 40
    else:
        ext = json.loads(data["cardList"][0]["cardExt"])
        ext["signature"] = "0" * 40
        data["cardList"][0]["cardExt"] = json.dumps(ext, ensure_ascii=False)
    route.fulfill(response=response, json=data)


def test_user_cancels_adding(open_phone, stack) -> None:
    received_before = len(stored_events(stack.settings.store_url, "user_get_card"))
    session, _ = open_landing(open_phone, stack, WEIXIN_IOS)
    session.simulator.add_card_choice = "cancel"
    page = session.page
    page.wait_for_selector("body[data-state='ready']")

    page.get_by_role("button", name=PAGE["add_button"][ZH]).tap()
    page.wait_for_selector("body[data-state='cancelled']")
    assert page.inner_text("#status") == SCRIPT["cancelled"][ZH]
    assert page.get_by_role("button", name=PAGE["add_button"][ZH]).is_enabled()
    assert session.simulator.calls_named("batchAddCard")[0].reply == {"err_msg": "batch_add_card:cancel"}
    assert len(stored_events(stack.settings.store_url, "user_get_card")) == received_before
    session.screenshot("weixin-cancelled")


def test_forged_config_signature(open_phone, stack) -> None:
    session = open_phone(WEIXIN_IOS, stack.settings.jssdk_url, sandbox_base=stack.sandbox.base_url)
    session.page.route("**/jssdk/config?*", lambda route: forge_signature(route, "config"))
    page = session.page
    page.goto(stack.landing_url(outer_str=OUTER_STR))

    page.wait_for_selector("body[data-state='config-failed']")
    assert page.get_attribute("body", "data-error") == "invalid-signature"
    assert page.inner_text("#status") == SCRIPT["invalid_signature"][ZH]
    assert "签名无效" in page.inner_text("#status")
    assert page.get_by_role("button", name=PAGE["add_button"][ZH]).is_disabled()
    (call,) = session.simulator.calls_named("preVerifyJSAPI")
    assert call.reply == {"err_msg": "pre_verify_jsapi:fail_invalid signature"}
    session.screenshot("weixin-config-failed")


def test_forged_card_ext_signature(open_phone, stack) -> None:
    session = open_phone(WEIXIN_IOS, stack.settings.jssdk_url, sandbox_base=stack.sandbox.base_url)
    session.page.route("**/card-ext?*", lambda route: forge_signature(route, "card_ext"))
    page = session.page
    page.goto(stack.landing_url(outer_str=OUTER_STR))
    page.wait_for_selector("body[data-state='ready']")

    page.get_by_role("button", name=PAGE["add_button"][ZH]).tap()
    page.wait_for_selector("body[data-state='failed']")
    assert page.inner_text("#status") == SCRIPT["failed"][ZH]
    assert session.simulator.rejections[0]["errcode"] == 40080
    session.screenshot("weixin-add-failed")


def test_outdated_weixin_asks_to_upgrade(open_phone, stack) -> None:
    session, _ = open_landing(open_phone, stack, WEIXIN_OUTDATED)
    page = session.page
    page.wait_for_load_state("load")

    assert page.get_attribute("body", "data-client") == "weixin-outdated"
    assert page.inner_text("#client-notice") == PAGE["client_weixin-outdated"][ZH]
    assert page.locator("#add-card").count() == 0
    assert session.simulator.calls == []
    session.screenshot("weixin-outdated")


def test_english_weixin_adds_card(open_phone, stack) -> None:
    session, _ = open_landing(open_phone, stack, WEIXIN_IOS_EN)
    page = session.page
    page.wait_for_selector("body[data-state='ready']")

    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("#status") == SCRIPT["ready"][EN]
    add_button = page.get_by_role("button", name=PAGE["add_button"][EN])
    box = add_button.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] <= page.viewport_size["height"]
    session.screenshot("weixin-en-ready")
    add_button.tap()
    page.wait_for_selector("body[data-state='added']")
    assert page.inner_text("#status") == SCRIPT["added"][EN]
    session.screenshot("weixin-en-added")


def test_android_weixin_adds_card(open_phone, stack) -> None:
    session, url = open_landing(open_phone, stack, WEIXIN_ANDROID)
    page = session.page
    page.wait_for_selector("body[data-state='ready']")

    page.get_by_role("button", name=PAGE["add_button"][ZH]).tap()
    page.wait_for_selector("body[data-state='added']")
    assert session.simulator.calls_named("preVerifyJSAPI")[0].url == url
    assert len(session.simulator.added_cards()) == 1


@pytest.mark.parametrize(
    ("user_agent", "name"), [(WEIXIN_WINDOWS, "weixin-windows"), (WEIXIN_MAC, "weixin-mac")], ids=["windows", "mac"]
)
def test_desktop_weixin_shows_qr(open_phone, stack, tmp_path, user_agent, name) -> None:
    session, url = open_landing(open_phone, stack, user_agent)
    page = session.page
    page.wait_for_load_state("load")

    assert page.get_attribute("body", "data-client") == "weixin-desktop"
    assert page.inner_text("#client-notice") == PAGE["client_weixin-desktop"][ZH]
    assert page.locator("#add-card").count() == 0
    page.locator("#page-qr").screenshot(path=str(tmp_path / "qr.png"))
    assert decode_qr(tmp_path / "qr.png") == url
    session.screenshot(name)


def test_wecom_asks_for_weixin(open_phone, stack, tmp_path) -> None:
    session, url = open_landing(open_phone, stack, WECOM_IOS)
    page = session.page
    page.wait_for_load_state("load")

    assert page.get_attribute("body", "data-client") == "wecom"
    assert page.inner_text("#client-notice") == PAGE["client_wecom"][ZH]
    assert page.locator("#add-card").count() == 0
    assert page.input_value("#page-link") == url
    page.locator("#page-qr").screenshot(path=str(tmp_path / "qr.png"))
    assert decode_qr(tmp_path / "qr.png") == url
    session.screenshot("wecom")


def test_mini_program_offers_link(open_phone, stack, tmp_path) -> None:
    session, url = open_landing(open_phone, stack, MINI_PROGRAM_IOS)
    page = session.page
    page.wait_for_load_state("load")

    assert page.get_attribute("body", "data-client") == "mini-program"
    assert page.inner_text("#client-notice") == PAGE["client_mini-program"][ZH]
    assert page.locator("#add-card").count() == 0
    assert page.input_value("#page-link") == url
    page.locator("#page-qr").screenshot(path=str(tmp_path / "qr.png"))
    assert decode_qr(tmp_path / "qr.png") == url
    session.screenshot("mini-program")


def test_mobile_browser_gets_qr_fallback(open_phone, stack, tmp_path) -> None:
    session, url = open_landing(open_phone, stack, SAFARI_IOS, in_weixin=False)
    page = session.page
    page.wait_for_load_state("load")

    assert page.get_attribute("body", "data-client") == "browser"
    assert page.locator("#add-card").count() == 0
    # A phone cannot scan its own screen, so the notice also offers the link and a screenshot.
    assert page.inner_text("#client-notice") == PAGE["client_browser_mobile"][ZH]
    page.locator("#page-qr").screenshot(path=str(tmp_path / "qr.png"))
    assert decode_qr(tmp_path / "qr.png") == url
    assert session.guard.blocked == []
    session.screenshot("browser-qr")
