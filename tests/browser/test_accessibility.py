"""The landing page has no critical accessibility violations, as axe-core finds them in Chromium."""

from __future__ import annotations

import pytest

from tests.browser.user_agents import SAFARI_IOS, WECOM_IOS, WEIXIN_IOS, WEIXIN_IOS_EN, WEIXIN_OUTDATED, WEIXIN_WINDOWS

pytestmark = pytest.mark.browser

# (user agent, inside Weixin, the data-state to wait for) for each page variant checked.
VARIANTS = {
    "weixin-ready": (WEIXIN_IOS, True, "ready"),
    "weixin-en-ready": (WEIXIN_IOS_EN, True, "ready"),
    "weixin-outdated": (WEIXIN_OUTDATED, True, None),
    "weixin-desktop": (WEIXIN_WINDOWS, True, None),
    "wecom": (WECOM_IOS, True, None),
    "browser": (SAFARI_IOS, False, None),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_landing_has_no_critical_violations(open_phone, stack, axe_script, variant) -> None:
    user_agent, in_weixin, state = VARIANTS[variant]
    session = open_phone(user_agent, stack.settings.jssdk_url, sandbox_base=stack.sandbox.base_url if in_weixin else None)
    page = session.page
    page.goto(stack.landing_url(outer_str="ch_a11y"))
    if state:
        page.wait_for_selector(f"body[data-state='{state}']")
    else:
        page.wait_for_load_state("load")

    page.add_script_tag(content=axe_script)
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    critical = [
        f"{violation['id']}: {violation['help']} ({len(violation['nodes'])} nodes, e.g. {violation['nodes'][0]['target']})"
        for violation in results["violations"]
        if violation["impact"] == "critical"
    ]
    assert critical == []
    assert results["testEngine"]["name"] == "axe-core"

    # Not required by the target, but kept at zero: white text on the card colour and the
    # green button once failed the 4.5:1 contrast rule.
    contrast = [violation["id"] for violation in results["violations"] if violation["id"] == "color-contrast"]
    assert contrast == []
