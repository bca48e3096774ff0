"""Client classes from real user agents, including every shared user-agent case."""

from __future__ import annotations

import pytest

from h5.useragent import (
    BROWSER,
    MINI_PROGRAM,
    WECOM,
    WEIXIN,
    WEIXIN_DESKTOP,
    WEIXIN_OUTDATED,
    classify,
    parse_version,
)
from tests.shared_material import cases

IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 12; RMX3562 Build/SP1A.210812.016; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/122.0.6261.120 Mobile Safari/537.36 XWEB/1220099 MMWEBSDK/20240404 MMWEBID/2307 "
    "MicroMessenger/8.0.49.2600(0x28003133) WeChat/arm64 Weixin NetType/5G Language/zh_CN ABI/arm64"
)
IOS_MINI_PROGRAM_WEB_VIEW = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.49(0x18003131) NetType/4G Language/zh_CN miniProgram/wx624dc2cce62f7008"
)
ANDROID_MINI_PROGRAM_REQUEST = (
    "Mozilla/5.0 (Linux; Android 12; M2012K11AC Build/SKQ1.220303.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/134.0.6998.136 Mobile Safari/537.36 XWEB/1340129 MMWEBSDK/20240301 MMWEBID/9871 "
    "MicroMessenger/8.0.48.2580(0x28003036) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64 "
    "MiniProgramEnv/android"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
    "Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090c37) XWEB/14315 Flue"
)
OLD_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "MicroMessenger/6.8.0(0x16080000) MacWechat/3.3(0x13030013) NetType/WIFI WindowsWechat"
)
WECOM_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)  "
    "Mobile/15E148 wxwork/4.1.30 MicroMessenger/7.0.1 Language/zh ColorScheme/Light wwmver/3.26.13.714"
)


@pytest.mark.parametrize(
    ("user_agent", "client_class", "version"),
    [
        (IOS, WEIXIN, (8, 0, 49)),
        (ANDROID, WEIXIN, (8, 0, 49, 2600)),
        (IOS_MINI_PROGRAM_WEB_VIEW, MINI_PROGRAM, (8, 0, 49)),
        (ANDROID_MINI_PROGRAM_REQUEST, MINI_PROGRAM, (8, 0, 48, 2580)),
        (WINDOWS, WEIXIN_DESKTOP, (7, 0, 20, 1781)),
        (OLD_MAC, WEIXIN_DESKTOP, (6, 8, 0)),
        (WECOM_IOS, WECOM, (7, 0, 1)),
    ],
    ids=["ios", "android", "ios-mini-program", "android-mini-program-request", "windows", "old-mac", "wecom-ios"],
)
def test_classify_documented_user_agents(user_agent: str, client_class: str, version: tuple[int, ...]) -> None:
    info = classify(user_agent)
    assert info.client_class == client_class
    assert info.version == version


def test_old_mac_is_mac_despite_windows_token() -> None:
    assert classify(OLD_MAC).platform == "mac"
    assert classify(WINDOWS).platform == "windows"


@pytest.mark.parametrize(
    ("user_agent", "client_class"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.138 "
            "Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x6309071d) XWEB/8447 "
            "UnifiedPCWindowsWechat(0xf2541015)",
            WEIXIN_DESKTOP,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "MicroMessenger/6.8.0(0x16080000) MacWechat/3.8.7(0x13080712) XWEB/1191 Flue",
            WEIXIN_DESKTOP,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/107.0.0.0 "
            "Safari/537.36 MicroMessenger/7.0.20.1781(0x6700143B) NetType/WIFI MiniProgramEnv/Windows "
            "WindowsWechat/WMPF WindowsWechat(0x63090a13) XWEB/9129",
            MINI_PROGRAM,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "MicroMessenger/6.8.0(0x16080000) NetType/WIFI MiniProgramEnv/Mac MacWechat/WMPF",
            MINI_PROGRAM,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "wxwork/4.1.22 (MicroMessenger/6.2) WindowsWechat MailPlugin_Electron WeMail embeddisk",
            WECOM,
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; V2238A; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
            "Chrome/101.0.4951.74 Mobile Safari/537.36 wxworklocal/2.7.1 MicroMessenger/7.0.1 NetType/WIFI Language/zh",
            WECOM,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
            BROWSER,
        ),
        ("", BROWSER),
    ],
    ids=["windows-unified", "new-mac", "windows-mini-program", "mac-mini-program", "wecom-desktop", "wecom-local", "chrome", "empty"],
)
def test_classify_other_clients(user_agent: str, client_class: str) -> None:
    assert classify(user_agent).client_class == client_class


def test_shared_user_agent_cases() -> None:
    shared = cases("user-agent")
    assert shared, "no user-agent cases in tests/data"
    for case in shared:
        expect = case["expect"]
        for user_agent, version, supports in zip(case["given"]["user_agents"], expect["versions"], expect["supports_cards"]):
            info = classify(user_agent)
            assert info.version == tuple(version), (case["id"], user_agent)
            assert info.supports_cards is supports, (case["id"], user_agent)
            assert info.client_class == (WEIXIN if supports else WEIXIN_OUTDATED), (case["id"], user_agent)


def test_versions_compare_as_integers() -> None:
    assert parse_version("6.0.10") > parse_version("6.0.2")
    assert parse_version("10.0.1") > parse_version("6.0.2")
    assert parse_version("6.0.2.58") > parse_version("6.0.2")


def test_version_suffixes_are_ignored() -> None:
    old_ua = "Mozilla/5.0 (Linux; Android 4.4.2) MicroMessenger/6.0.1.58_r984381.480 NetType/WIFI"
    assert classify(old_ua).version == (6, 0, 1, 58)
    assert classify(old_ua).client_class == WEIXIN_OUTDATED


def test_language_from_user_agent() -> None:
    assert classify(IOS).language == "zh-CN"
    assert classify(IOS.replace("Language/zh_CN", "Language/en")).language == "en"
    assert classify(ANDROID.replace("Language/zh_CN", "Language/en_US")).language == "en"
    assert classify("").language == "zh-CN"


def test_plain_browser_phone_or_computer() -> None:
    iphone_safari = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1"
    )
    desktop_firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    assert classify(iphone_safari).mobile is True
    assert classify(desktop_firefox).mobile is False
    assert classify(IOS).mobile is False


def test_overlong_version_is_not_an_error() -> None:
    # int() rejects strings of more than 4300 digits, and a User-Agent header can be longer.
    info = classify("Mozilla/5.0 (iPhone) MicroMessenger/" + "9" * 5000 + " NetType/WIFI")

    assert info.client_class == WEIXIN
    assert info.version is None
