"""Messages of the HelloWorld and deposit subcommands, in English and Simplified Chinese.

``ERRCODES`` maps each Weixin errcode these subcommands meet to its meaning, ``HINTS``
contains what to do about the common ones, and ``TEXTS`` contains every other line the
subcommands print. The language is ``en`` or ``zh``; ``cli_language`` picks it from
``--lang`` or the locale.
"""

from __future__ import annotations

import os
from typing import Mapping

EN = "en"
ZH = "zh"
LANGUAGES = (EN, ZH)

ERRCODES: dict[int, dict[str, str]] = {
    -1: {EN: "Weixin is busy, try again later", ZH: "系统繁忙，请稍后再试"},
    40001: {
        EN: "invalid credential: wrong AppSecret, or the access_token is invalid or not the latest",
        ZH: "凭证无效：AppSecret 错误，或 access_token 无效或不是最新的",
    },
    40002: {EN: "invalid grant_type", ZH: "grant_type 无效"},
    40003: {EN: "invalid openid", ZH: "openid 无效"},
    40009: {EN: "invalid image size: the image is too large or not an image", ZH: "图片大小无效：图片过大或不是图片"},
    40013: {EN: "invalid AppID", ZH: "AppID 无效"},
    40014: {EN: "invalid access_token", ZH: "access_token 无效"},
    40053: {EN: "invalid action_info in the QR code request", ZH: "二维码请求的 action_info 无效"},
    40056: {EN: "invalid code: unknown, not yet received, or transferred", ZH: "code 无效：不存在、尚未领取或已转赠"},
    40071: {EN: "invalid card type", ZH: "卡券类型无效"},
    40072: {EN: "invalid code_type", ZH: "编码方式 code_type 无效"},
    40073: {EN: "invalid card_id", ZH: "card_id 无效"},
    40075: {EN: "invalid encrypt_code", ZH: "encrypt_code 无效"},
    40078: {EN: "invalid card status: not approved, or deleted", ZH: "卡券状态无效：未通过审核或已删除"},
    40079: {EN: "invalid time", ZH: "时间无效"},
    40099: {EN: "the code was already consumed", ZH: "该 code 已核销"},
    40100: {EN: "invalid time range", ZH: "时间区间无效"},
    40109: {EN: "more than 100 codes in one request", ZH: "单次请求的 code 超过 100 个"},
    40116: {EN: "invalid code", ZH: "code 无效"},
    40122: {EN: "invalid stock", ZH: "库存无效"},
    40125: {EN: "invalid AppSecret", ZH: "AppSecret 无效"},
    40127: {
        EN: "the user deleted the card, is gifting it, or it is unavailable",
        ZH: "用户已删除该卡券、正在转赠，或卡券已失效",
    },
    40132: {EN: "invalid Weixin ID", ZH: "微信号无效"},
    40164: {EN: "the caller IP is not in the API IP whitelist", ZH: "调用方 IP 不在接口 IP 白名单中"},
    40243: {EN: "the AppSecret is frozen", ZH: "AppSecret 已被冻结"},
    41001: {EN: "access_token missing", ZH: "缺少 access_token"},
    41002: {EN: "appid missing", ZH: "缺少 appid"},
    41004: {EN: "appsecret missing", ZH: "缺少 appsecret"},
    41005: {EN: "media data missing", ZH: "缺少媒体文件"},
    41011: {EN: "a required field is missing", ZH: "缺少必填字段"},
    41012: {EN: "card_id missing", ZH: "缺少 card_id"},
    42001: {EN: "access_token expired", ZH: "access_token 已过期"},
    43009: {EN: "no permission for custom codes", ZH: "没有自定义 code 权限"},
    43010: {EN: "no permission for stored value", ZH: "没有储值权限"},
    45009: {EN: "daily API quota reached", ZH: "接口调用次数已达每日上限"},
    45011: {EN: "API calls too frequent (per-minute limit)", ZH: "接口调用过于频繁（每分钟上限）"},
    45021: {EN: "a field is too long", ZH: "字段超过长度限制"},
    45030: {EN: "this card_id has no API permission", ZH: "该 card_id 没有接口权限"},
    45031: {EN: "the stock is 0", ZH: "库存为 0"},
    45033: {EN: "the user reached get_limit", ZH: "用户领取数量已达 get_limit 上限"},
    48001: {EN: "API not authorised for this account", ZH: "该帐号未获得此接口权限"},
}

UNKNOWN_ERRCODE = {EN: "see the Weixin global error code list", ZH: "请查阅微信全局返回码说明"}

HINTS: dict[int, dict[str, str]] = {
    40164: {
        EN: "add this machine's public IP to the API IP whitelist (Official Accounts Platform > Settings and Development > Basic Configuration)",
        ZH: "请把本机的公网 IP 加入接口 IP 白名单（公众平台 > 设置与开发 > 基本配置）",
    },
    45009: {
        EN: "the daily quota is reached; wait until tomorrow or reset the quota on the Official Accounts Platform",
        ZH: "今日调用次数已达上限；请明天再试，或在公众平台清零调用次数",
    },
    40001: {
        EN: "check WXCARD_APPSECRET: it must be the current AppSecret of WXCARD_APPID",
        ZH: "请检查 WXCARD_APPSECRET：必须是 WXCARD_APPID 当前的 AppSecret",
    },
    40125: {
        EN: "check WXCARD_APPSECRET: it must be the current AppSecret of WXCARD_APPID",
        ZH: "请检查 WXCARD_APPSECRET：必须是 WXCARD_APPID 当前的 AppSecret",
    },
    48001: {
        EN: "this account may not call this API; Cards & Offers needs a verified Official Account with the Cards feature enabled",
        ZH: "该帐号无权调用此接口；卡券功能需要已认证并开通卡券功能的公众号",
    },
}

TEXTS: dict[str, dict[str, str]] = {
    "weixin_error": {EN: "errcode {errcode}: {meaning} ({errmsg})", ZH: "错误码 {errcode}：{meaning}（{errmsg}）"},
    "hint": {EN: "hint: {hint}", ZH: "提示：{hint}"},
    "network_error": {
        EN: "request to {host} failed: {cause}; check WXCARD_API_BASE and the network",
        ZH: "请求 {host} 失败：{cause}；请检查 WXCARD_API_BASE 和网络",
    },
    "setting_error": {EN: "invalid setting {message}", ZH: "配置错误 {message}"},
    "store_error": {EN: "cannot open the store: {message}", ZH: "无法打开存储：{message}"},
    "usage_error": {EN: "error: {message}", ZH: "错误：{message}"},
    "unexpected_error": {
        EN: "unexpected error: {message}; rerun with --log-level DEBUG for details",
        ZH: "意外错误：{message}；加 --log-level DEBUG 重新运行可查看详情",
    },
    "interrupted": {EN: "interrupted", ZH: "已中断"},
    # token
    "token_value": {EN: "access_token: {token}", ZH: "access_token：{token}"},
    "token_masked_note": {EN: "(masked; --reveal prints it whole)", ZH: "（已打码；加 --reveal 显示完整值）"},
    "token_expiry": {
        EN: "expires at {expires_at} (in {seconds} s), {source}",
        ZH: "过期时间 {expires_at}（{seconds} 秒后），{source}",
    },
    "token_from_cache": {EN: "from the shared cache", ZH: "来自共享缓存"},
    "token_fetched": {EN: "fetched now and cached", ZH: "刚刚获取并已缓存"},
    # upload-logo
    "file_unreadable": {EN: "cannot read {path}: {cause}", ZH: "无法读取 {path}：{cause}"},
    "logo_too_large": {
        EN: "{path} is {size} bytes; a logo may be at most {limit} bytes (1 MB)",
        ZH: "{path} 大小为 {size} 字节；logo 最多 {limit} 字节（1 MB）",
    },
    "logo_not_image": {
        EN: "{path} is neither JPG nor PNG by its content; convert it to PNG or JPG",
        ZH: "{path} 的内容既不是 JPG 也不是 PNG；请转换为 PNG 或 JPG",
    },
    # create-card
    "card_file_invalid": {EN: "{path} is not valid JSON: {cause}", ZH: "{path} 不是有效的 JSON：{cause}"},
    "card_invalid": {EN: "{path} has {count} error(s), nothing was sent:", ZH: "{path} 有 {count} 处错误，未发送：" },
    "card_warning": {EN: "warning: {message}", ZH: "警告：{message}"},
    "card_valid": {EN: "{path} passed the local checks", ZH: "{path} 通过了本地检查"},
    # qrcode
    "qr_drawing_skipped": {
        EN: "the response has no url to draw as a QR code",
        ZH: "返回结果中没有可绘制为二维码的 url",
    },
    "qr_content": {EN: "the QR code contains {url}", ZH: "二维码内容为 {url}"},
    "qr_png_written": {EN: "QR code written to {path}", ZH: "二维码已写入 {path}"},
    "qr_code_count": {
        EN: "--code was given {codes} time(s) for {cards} card(s); give it once per card, in the same order",
        ZH: "--code 给了 {codes} 次，但有 {cards} 张卡券；请按卡券顺序每张给一次",
    },
    "qr_single_only": {
        EN: "{option} works only with one CARD_ID (QR_CARD)",
        ZH: "{option} 只能用于单张卡券（QR_CARD）",
    },
    "qr_expire_range": {
        EN: "--expire-seconds {value} is out of range; give 60 to 1800, or leave it out for the longest validity",
        ZH: "--expire-seconds {value} 超出范围；请给 60 到 1800，或不填以使用最长有效期",
    },
    "qr_outer_str_long": {
        EN: "--outer-str is {size} bytes; at most {limit} bytes in UTF-8",
        ZH: "--outer-str 为 {size} 字节；UTF-8 下最多 {limit} 字节",
    },
    # whitelist
    "whitelist_empty": {
        EN: "give at least one --openid or --username, or --clear to empty the test whitelist",
        ZH: "请至少给一个 --openid 或 --username，或用 --clear 清空测试白名单",
    },
    "whitelist_too_many": {
        EN: "{count} entries given; the test whitelist holds at most {limit} openids and usernames in total",
        ZH: "给了 {count} 个；测试白名单的 openid 和微信号合计最多 {limit} 个",
    },
    "whitelist_replaces": {
        EN: "warning: this list replaces the whole previous test whitelist; include everyone who should stay on it",
        ZH: "警告：此列表会整体替换之前的测试白名单；请把需要保留的人都写上",
    },
    "whitelist_result": {
        EN: "test whitelist size: {size}; accepted openids: {openids}; accepted usernames: {usernames}",
        ZH: "测试白名单人数：{size}；成功的 openid：{openids}；成功的微信号：{usernames}",
    },
    # consume, decrypt, code
    "consumed": {
        EN: "consumed code {code} of card {card_id}; owner openid {openid}",
        ZH: "已核销卡券 {card_id} 的 code {code}；持有者 openid {openid}",
    },
    "code_status": {EN: "status: {status}", ZH: "状态：{status}"},
    "code_card": {EN: "card_id: {card_id}", ZH: "card_id：{card_id}"},
    "code_owner": {EN: "owner openid: {openid}", ZH: "持有者 openid：{openid}"},
    "code_validity": {EN: "valid: {begin} to {end}", ZH: "有效期：{begin} 至 {end}"},
    "code_can_consume": {EN: "can_consume: {value}", ZH: "可核销 can_consume：{value}"},
    "unknown_time": {EN: "unknown", ZH: "未知"},
    # deposit
    "deposit_read": {
        EN: "{path}: {lines} line(s), {unique} unique code(s), {blank} blank line(s) and {local_duplicates} repeated code(s) dropped",
        ZH: "{path}：共 {lines} 行，{unique} 个不重复的 code，去掉 {blank} 个空行和 {local_duplicates} 个重复 code",
    },
    "deposit_too_long": {
        EN: "{count} code(s) longer than {limit} bytes were not sent and count as failed",
        ZH: "{count} 个超过 {limit} 字节的 code 未发送，计为失败",
    },
    "deposit_resuming": {
        EN: "{done} of {batches} batch(es) had succeeded in an earlier run and were not sent again",
        ZH: "{batches} 批中有 {done} 批在之前的运行中已成功，未重复发送",
    },
    "deposit_summary": {
        EN: "succeeded {succeeded}, duplicate {duplicate} (already in Weixin), failed {failed}",
        ZH: "成功 {succeeded} 个，重复 {duplicate} 个（微信中已存在），失败 {failed} 个",
    },
    "deposit_failed_file": {EN: "failed codes written to {path}", ZH: "失败的 code 已写入 {path}"},
    "deposit_count": {
        EN: "card/code/getdepositcount: {count} code(s) deposited for card {card_id}",
        ZH: "card/code/getdepositcount：卡券 {card_id} 共导入 {count} 个 code",
    },
    "deposit_count_low": {
        EN: "warning: Weixin counts {count} deposited code(s) but {succeeded} from this file succeeded",
        ZH: "警告：微信统计已导入 {count} 个 code，但本文件成功 {succeeded} 个",
    },
    "deposit_stock_raised": {
        EN: "stock raised by {increase} (the codes of this file that Weixin accepted)",
        ZH: "库存已增加 {increase}（本文件被微信接受的 code 数）",
    },
    "deposit_stock_done": {
        EN: "stock was already raised by {increase} for this file; not raised again",
        ZH: "本文件已增加过库存 {increase}；不再重复增加",
    },
    "deposit_stopped": {
        EN: "stopped after {done} of {batches} batch(es); rerun the same command to resume",
        ZH: "已在 {batches} 批中的第 {done} 批后停止；重新运行同一命令即可继续",
    },
}


def cli_language(requested: str | None, environ: Mapping[str, str] | None = None) -> str:
    """Return ``zh`` or ``en``: ``requested`` when given, else from the POSIX locale variables.

    The first non-empty of ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` decides, as in POSIX,
    so ``LANG=zh_CN.UTF-8`` selects Chinese unless ``LC_ALL`` names another locale.
    """
    if requested:
        return ZH if requested.lower().startswith("zh") else EN
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return ZH if value.lower().startswith("zh") else EN
    return EN


def text(key: str, language: str, **values: object) -> str:
    """Return the message ``key`` in ``language`` with ``values`` filled in."""
    return TEXTS[key][language].format(**values)


def weixin_error_lines(errcode: int, errmsg: str, language: str) -> list[str]:
    """Return the error line for a Weixin errcode, followed by a hint line for the common ones."""
    meaning = ERRCODES.get(errcode, UNKNOWN_ERRCODE)[language]
    lines = [text("weixin_error", language, errcode=errcode, meaning=meaning, errmsg=errmsg)]
    if errcode in HINTS:
        lines.append(text("hint", language, hint=HINTS[errcode][language]))
    return lines
