"""The pages of the custom-entry redirect and the landing page's error pages, as a phone shows them."""

from __future__ import annotations

import copy
import json

import pytest

from h5.context import ROOT
from h5.sandbox import DEFAULT_APPID
from tests.browser.user_agents import WEIXIN_IOS, WEIXIN_IOS_EN

pytestmark = pytest.mark.browser

OPENID = "oRedirectPages0000000001"


def loose_card(stack) -> str:
    """Create an approved card that no campaign lists, so its hand-over is our own coupon page."""
    body = json.loads((ROOT / "examples" / "hotpot-groupon.json").read_text(encoding="utf-8"))
    body = copy.deepcopy(body)
    base_info = body["card"]["groupon"]["base_info"]
    base_info["code_type"] = "CODE_TYPE_QRCODE"
    # The example's logo is on Weixin's CDN, which the browser may not reach; reuse the uploaded one.
    base_info["logo_url"] = stack.sandbox.state.card_view(stack.card_id, DEFAULT_APPID)["groupon"]["base_info"]["logo_url"]
    card_id = stack.sandbox.state.create_card(DEFAULT_APPID, body)
    stack.sandbox.state.set_card_status(card_id, "CARD_STATUS_VERIFY_OK")
    return card_id


def redirect_url(stack, card_id: str, openid: str = OPENID) -> tuple[str, str]:
    issued = stack.sandbox_json("POST", "/sandbox/codes/issue", json={"card_id": card_id, "openid": openid})
    url = stack.sandbox_json(
        "GET", "/sandbox/redirect-url", params={"code": issued["code"], "card_id": card_id, "url": f"{stack.backend_base}/cards/redirect"}
    )["url"]
    return issued["code"], url


@pytest.mark.parametrize(("user_agent", "suffix"), [(WEIXIN_IOS, ""), (WEIXIN_IOS_EN, "-en")])
def test_own_coupon_page(open_phone, stack, user_agent, suffix) -> None:
    card_id = loose_card(stack)
    code, url = redirect_url(stack, card_id)
    session = open_phone(user_agent, stack.settings.jssdk_url)
    page = session.page

    response = page.goto(url)
    assert response is not None
    assert response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    page.wait_for_selector("body[data-state='coupon']")
    assert page.get_attribute("body", "data-status") == "NORMAL"
    assert page.locator("svg").count() >= 2
    assert "132元双人火锅套餐" in page.inner_text("body")
    session.screenshot(f"redirect-coupon{suffix}")


def test_used_coupon_page(open_phone, stack) -> None:
    code, url = redirect_url(stack, stack.card_id)
    stack.sandbox_json("POST", "/sandbox/codes/status", json={"code": code, "status": "CONSUMED"})
    session = open_phone(WEIXIN_IOS, stack.settings.jssdk_url)
    page = session.page

    page.goto(url)
    page.wait_for_selector("body[data-state='unusable']")
    assert page.get_attribute("body", "data-status") == "CONSUMED"
    assert stack.merchant.handoffs == [] or all(h["code"] != code for h in stack.merchant.handoffs)
    session.screenshot("redirect-consumed")


def test_other_users_code_page(open_phone, stack) -> None:
    code, url = redirect_url(stack, stack.card_id)
    edited = url.replace(f"openid={OPENID}", "openid=oSomebodyElse000000000001")
    assert edited != url
    session = open_phone(WEIXIN_IOS, stack.settings.jssdk_url)
    page = session.page

    response = page.goto(edited)
    assert response is not None
    assert response.status == 403
    assert page.get_attribute("body", "data-state") == "error"
    session.screenshot("redirect-not-yours")


@pytest.mark.parametrize(
    ("path", "status", "name"),
    [("/cards/no-such-campaign", 404, "landing-not-found"), ("/cards/{campaign}?outer_str=bad%20value!", 400, "landing-bad-outer-str")],
)
def test_landing_error_pages(open_phone, stack, path, status, name) -> None:
    campaign = stack.landing_url().rsplit("/", 1)[1].split("?")[0]
    session = open_phone(WEIXIN_IOS, stack.settings.jssdk_url)
    page = session.page

    response = page.goto(stack.backend_base + path.format(campaign=campaign))
    assert response is not None
    assert response.status == status
    assert page.get_attribute("body", "data-state") == "error"
    session.screenshot(name)
