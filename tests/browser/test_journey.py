"""The whole journey of one coupon in Chromium, with the official JS-SDK and a Chinese Weixin.

Landing page with outer_str=ch_moments, wx.config, 添加到卡包, the user_get_card push,
the custom-entry redirect with the encrypt_code the sandbox issued, the merchant's
hand-over and consume, the user_consume_card push, and ``wxcard report``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from h5.context import ROOT
from tests.browser.stack import stored_events, wait_for_events
from tests.browser.user_agents import WEIXIN_IOS

pytestmark = pytest.mark.browser

OUTER_STR = "ch_moments"


def run_report(store_url: str, *options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WXCARD_STORE": store_url}
    return subprocess.run(
        [sys.executable, "-m", "h5.cli.main", "report", *options],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def test_coupon_journey(open_phone, stack) -> None:
    store_url = stack.settings.store_url
    session = open_phone(WEIXIN_IOS, stack.settings.jssdk_url, sandbox_base=stack.sandbox.base_url)
    page = session.page
    landing_url = stack.landing_url(outer_str=OUTER_STR)

    # 1-2. The landing page loads and wx.config passes for the page's own URL.
    page.goto(landing_url)
    page.wait_for_selector("body[data-state='ready']")
    assert page.get_attribute("body", "data-client") == "weixin"
    assert page.get_attribute("html", "lang") == "zh-CN"
    (config_call,) = session.simulator.calls_named("preVerifyJSAPI")
    assert config_call.url == landing_url
    assert config_call.reply == {"err_msg": "pre_verify_jsapi:ok"}
    assert "batchAddCard" in config_call.params["verifyJsApiList"]
    button = page.get_by_role("button", name="添加到卡包")
    assert button.is_enabled()
    # The button must be visible without scrolling on a 390x844 phone.
    box = button.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] <= page.viewport_size["height"]
    session.screenshot("weixin-ready")

    # 3-4. The user taps the button, the sandbox client adds the card, and the page shows it.
    button.tap()
    page.wait_for_selector("body[data-state='added']")
    assert "已添加到卡包" in page.inner_text("#status")
    session.screenshot("weixin-added")
    (added,) = session.simulator.added_cards()
    assert added["card_id"] == stack.card_id
    assert json.loads(added["card_ext"])["outer_str"] == OUTER_STR

    # 5. The sandbox pushes user_get_card and our store keeps it with the channel.
    (received,) = wait_for_events(store_url, "user_get_card", 1)
    assert received["CardId"] == stack.card_id
    assert received["OuterStr"] == OUTER_STR
    assert received["FromUserName"] == session.simulator.openid
    code = received["UserCardCode"]

    # 6. The user opens the card's custom entry: Weixin appends the encrypt_code it issued.
    redirect_url = stack.sandbox_json("GET", "/sandbox/redirect-url", params={"code": code, "card_id": stack.card_id})["url"]
    assert redirect_url.startswith(f"{stack.backend_base}/cards/redirect?")
    assert "encrypt_code=" in redirect_url
    page.goto(redirect_url)

    # 7. The redirect handler verifies the code and hands it over to the merchant page.
    page.wait_for_selector("body[data-state='handoff-verified']")
    assert page.url.startswith(f"{stack.merchant_server.base_url}/shop?handoff=")
    (handoff,) = stack.merchant.handoffs
    assert handoff["card_id"] == stack.card_id
    assert handoff["code"] == code
    assert handoff["openid"] == session.simulator.openid
    assert handoff["outer_str"] == OUTER_STR
    assert handoff["status"] == "NORMAL"
    session.screenshot("merchant-handoff")

    # 8-9. The merchant consumes the code and the sandbox pushes user_consume_card.
    page.get_by_role("button", name="核销").tap()
    page.wait_for_selector("body[data-state='consumed']")
    assert stack.merchant.consumes[-1]["result"] == "consumed"
    session.screenshot("merchant-consumed")
    (consumed,) = wait_for_events(store_url, "user_consume_card", 1)
    assert consumed["CardId"] == stack.card_id
    assert consumed["UserCardCode"] == code
    assert len(stored_events(store_url, "user_get_card")) == 1

    # 10. wxcard report counts the channel: one received, one consumed.
    report = run_report(store_url, "--json")
    assert report.returncode == 0, report.stderr
    rows = [json.loads(line) for line in report.stdout.splitlines() if line.strip()]
    (row,) = [row for row in rows if row["outer_str"] == OUTER_STR]
    assert row["card_id"] == stack.card_id
    assert row["received"] == 1
    assert row["consumed"] == 1

    table = run_report(store_url)
    assert table.returncode == 0, table.stderr
    (line,) = [line for line in table.stdout.splitlines() if line.startswith(OUTER_STR)]
    assert line.split()[1:4] == [stack.card_id, "1", "1"]

    # Nothing tried to leave this machine, and the page raised no script errors.
    assert session.guard.blocked == []
    assert session.console_errors == []
