"""Every visible text of the landing page, in Simplified Chinese and English.

``PAGE`` is rendered by the templates. ``SCRIPT`` goes to ``static/landing.js`` as JSON,
so the script shows the outcome of ``wx.config`` and ``wx.addCard`` in the page's language.
"""

from __future__ import annotations

from h5.i18n import EN, ZH

PAGE: dict[str, dict[str, str]] = {
    "page_title": {ZH: "领取卡券", EN: "Get your card"},
    "card_fallback_title": {ZH: "卡券", EN: "Card"},
    "logo_alt": {ZH: "{brand} 的标志", EN: "{brand} logo"},
    "add_button": {ZH: "添加到卡包", EN: "Add to Cards & Offers"},
    "add_button_whitelist": {ZH: "仍要领取（仅限测试白名单用户）", EN: "Add anyway (test whitelist only)"},
    "status_loading": {ZH: "正在准备…", EN: "Getting ready…"},
    "page_link": {ZH: "页面链接", EN: "Page link"},
    "qr_label": {ZH: "本页面的二维码", EN: "QR code of this page"},
    # One notice per client class that cannot add cards here.
    "client_weixin-outdated": {
        ZH: "您的微信版本过低，无法领取卡券。请将微信升级到最新版本后重新打开此页面。",
        EN: "This version of Weixin is too old to add cards. Update Weixin and open this page again.",
    },
    "client_weixin-desktop": {
        ZH: "电脑版微信无法领取卡券。请用手机微信扫描下方二维码，在手机上打开此页面。",
        EN: "Cards cannot be added in Weixin for Windows or Mac. Scan the QR code below with Weixin on your phone.",
    },
    "client_wecom": {
        ZH: "企业微信无法领取微信卡券。请在微信中打开此页面：用微信扫描下方二维码，或复制链接发到微信聊天中打开。",
        EN: "WeCom cannot add Weixin cards. Open this page in Weixin: scan the QR code below with Weixin, "
        "or copy the link into a Weixin chat and open it there.",
    },
    "client_mini-program": {
        ZH: "小程序内无法直接领取卡券。请复制下方链接，发到微信聊天中打开后领取。",
        EN: "Cards cannot be added inside a mini program. Copy the link below into a Weixin chat and open it there.",
    },
    "client_browser": {
        ZH: "请用手机微信扫描下方二维码，在微信中领取卡券。",
        EN: "Scan the QR code below with Weixin on your phone to add the card.",
    },
    "client_browser_mobile": {
        ZH: "请在微信中打开此页面领取卡券：复制链接发到微信聊天中打开，或截屏后在微信“扫一扫”中从相册识别二维码。",
        EN: "Open this page in Weixin to add the card: copy the link into a Weixin chat and open it there, "
        "or take a screenshot and scan the QR code from your album with Weixin.",
    },
    # One notice per card state that stops or limits adding.
    "card_in_review": {
        ZH: "此卡券正在审核中，目前只有测试白名单中的用户可以领取。",
        EN: "This card is still in review. Only users on the test whitelist can add it for now.",
    },
    "card_rejected": {
        ZH: "此卡券未通过审核，暂时无法领取。",
        EN: "This card was not approved, so it cannot be added.",
    },
    "card_deleted": {
        ZH: "此卡券已被删除，无法领取。",
        EN: "This card has been deleted and can no longer be added.",
    },
    "card_not_found": {
        ZH: "找不到此卡券，它可能不属于本公众号。",
        EN: "This card was not found for this Official Account.",
    },
    "card_unreachable": {
        ZH: "暂时无法连接微信，请稍后刷新页面重试。",
        EN: "Weixin cannot be reached right now. Reload the page in a minute.",
    },
    "card_error": {
        ZH: "微信返回了错误，暂时无法领取此卡券。",
        EN: "Weixin returned an error, so this card cannot be added right now.",
    },
    # Error pages.
    "not_found_title": {ZH: "页面不存在", EN: "Page not found"},
    "not_found_body": {
        ZH: "找不到活动“{campaign}”。请检查链接是否完整。",
        EN: "There is no campaign named “{campaign}”. Check that the link is complete.",
    },
    "bad_request_title": {ZH: "链接无效", EN: "Invalid link"},
    "bad_outer_str": {
        ZH: "链接中的 outer_str 参数无效：最多 128 个字符，且只能包含字母、数字、下划线、点和连字符。",
        EN: "The link's outer_str parameter is invalid: it may have at most 128 characters, "
        "using only letters, digits, '_', '.' and '-'.",
    },
}

SCRIPT: dict[str, dict[str, str]] = {
    "configuring": {ZH: "正在准备…", EN: "Getting ready…"},
    "ready": {ZH: "点击按钮，将卡券添加到微信卡包。", EN: "Tap the button to add the card to Cards & Offers."},
    "adding": {ZH: "正在添加…", EN: "Adding…"},
    "added": {ZH: "已添加到卡包，可在“我 > 卡包”中查看。", EN: "Added. You can find it in Me > Cards & Offers."},
    "cancelled": {ZH: "已取消。您可以随时再次领取。", EN: "Cancelled. You can add the card again at any time."},
    "failed": {ZH: "添加失败，请稍后再试。", EN: "The card could not be added. Please try again later."},
    "network": {
        ZH: "无法连接服务器，请检查网络后重试。",
        EN: "The server cannot be reached. Check the connection and try again.",
    },
    "sdk_failed": {
        ZH: "无法加载微信 JS-SDK，请检查网络后刷新页面。",
        EN: "The Weixin JS-SDK could not be loaded. Check the connection and reload the page.",
    },
    "invalid_signature": {
        ZH: "页面签名无效，请刷新页面后重试。",
        EN: "The page's signature is invalid. Reload the page and try again.",
    },
    "invalid_url_domain": {
        ZH: "此页面的域名未在公众号中登记为 JS 接口安全域名，无法领取卡券。",
        EN: "This page's domain is not registered with the Official Account, so cards cannot be added here.",
    },
    "permission_denied": {
        ZH: "公众号没有领取卡券的接口权限。",
        EN: "The Official Account has no permission to offer cards.",
    },
    "config_failed": {
        ZH: "微信未能准备好此页面，请刷新后重试。",
        EN: "Weixin could not set up this page. Reload the page and try again.",
    },
    "config_timeout": {
        ZH: "微信没有响应，请刷新页面重试。",
        EN: "Weixin did not respond. Reload the page and try again.",
    },
}
