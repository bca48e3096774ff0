"""The HelloWorld subcommands, each run as a subprocess against the sandbox as a real server."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import httpx
import pytest

from h5.credentials import CredentialCache
from h5.sandbox.server import SandboxServer
from h5.store.sqlite import SQLiteStore
from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from tests.wxcard_cli import EXAMPLES, Wxcard, closed_port, inject_fault, recorded, sandbox_post
from tests.wxcard_cli import sandbox_server, wxcard  # noqa: F401 - pytest fixtures used by name

OPENID = "oFS7Fjl0WsZ9AMZqrI80nbIq8xrA"
TITLE_BYTES = '"title":"132元双人火锅套餐"'.encode("utf-8")


def create_hotpot_card(wxcard: Wxcard) -> str:
    result = wxcard.run("create-card", str(EXAMPLES / "hotpot-groupon.json"))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def issue_code(wxcard: Wxcard, card_id: str) -> dict:
    whitelist = wxcard.run("whitelist", "--openid", OPENID)
    assert whitelist.returncode == 0, whitelist.stderr
    return sandbox_post(wxcard.base_url, "/sandbox/codes/issue", {"card_id": card_id, "openid": OPENID})


def write_card(tmp_path: Path, name: str, edit) -> Path:
    data = json.loads((EXAMPLES / "hotpot-groupon.json").read_text(encoding="utf-8"))
    edit(data["card"]["groupon"]["base_info"])
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


# -- token ------------------------------------------------------------------------------


def test_token_masked_then_cached(wxcard: Wxcard, sandbox_server: SandboxServer):
    first = wxcard.run("token")
    second = wxcard.run("token", "--reveal")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    token = re.search(r"access_token: (\S+)", second.stdout).group(1)
    masked = re.search(r"access_token: (\S+)", first.stdout).group(1)
    assert token not in first.stdout + first.stderr
    assert "*" in masked
    assert masked.startswith(token[:4])
    assert masked.endswith(token[-4:])
    assert "fetched now" in first.stdout
    assert "from the shared cache" in second.stdout
    assert re.search(r"expires at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d .*\(in \d+ s\)", first.stdout)
    assert sandbox_server.state.stats()["token_fetches"] == 1


def test_token_cache_shared_with_server(wxcard: Wxcard):
    result = wxcard.run("token", "--reveal", "--json")

    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)

    async def read_cache() -> str:
        store = SQLiteStore(wxcard.store_path)
        try:
            credential = await CredentialCache(store, DEFAULT_APPID, DEFAULT_SECRET).cached("access_token")
            return credential.value
        finally:
            await store.close()

    assert asyncio.run(read_cache()) == printed["access_token"]
    assert 0 < printed["expires_in"] <= 7200
    assert printed["cached"] is False


# -- upload-logo ------------------------------------------------------------------------


def test_upload_logo_sends_buffer_field(wxcard: Wxcard):
    logo = (EXAMPLES / "hotpot-logo.png").read_bytes()

    result = wxcard.run("upload-logo", str(EXAMPLES / "hotpot-logo.png"))

    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith(wxcard.base_url + "/mmbiz/")
    [request] = recorded(wxcard.base_url, "cgi-bin/media/uploadimg")
    assert request["content_type"].startswith("multipart/form-data")
    assert b'name="buffer"' in request["body"]
    assert b"Content-Type: image/png" in request["body"]
    assert logo in request["body"]
    assert httpx.get(url, trust_env=False).content == logo


def test_upload_logo_checks_locally(wxcard: Wxcard, tmp_path: Path):
    renamed_text = tmp_path / "logo.png"
    renamed_text.write_text("not an image", encoding="utf-8")
    too_large = tmp_path / "large.png"
    too_large.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (1024 * 1024))

    wrong_type = wxcard.run("upload-logo", str(renamed_text))
    large = wxcard.run("upload-logo", str(too_large))
    missing = wxcard.run("upload-logo", str(tmp_path / "absent.png"))

    assert wrong_type.returncode == 2
    assert "neither JPG nor PNG" in wrong_type.stderr
    assert large.returncode == 2
    assert "1048584 bytes" in large.stderr
    assert "at most 1048576 bytes" in large.stderr
    assert missing.returncode == 2
    assert "absent.png" in missing.stderr
    assert recorded(wxcard.base_url, "cgi-bin/media/uploadimg") == []


def test_upload_logo_accepts_jpeg(wxcard: Wxcard, tmp_path: Path):
    jpeg = tmp_path / "logo.dat"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\0" * 64)

    result = wxcard.run("upload-logo", str(jpeg))

    [request] = recorded(wxcard.base_url, "cgi-bin/media/uploadimg")
    assert b"Content-Type: image/jpeg" in request["body"]
    assert result.returncode == 0, result.stderr


# -- create-card ------------------------------------------------------------------------


def test_create_card_posts_utf8_json(wxcard: Wxcard, sandbox_server: SandboxServer):
    result = wxcard.run("create-card", str(EXAMPLES / "hotpot-groupon.json"))

    assert result.returncode == 0, result.stderr
    card_id = result.stdout.strip()
    assert re.fullmatch(r"p[0-9A-Za-z_-]{27}", card_id)
    [request] = recorded(wxcard.base_url, "card/create")
    assert TITLE_BYTES in request["body"]
    assert '"brand_name":"微信餐厅"'.encode("utf-8") in request["body"]
    assert b"\\u" not in request["body"]
    assert request["content_type"] == "application/json; charset=utf-8"
    assert sandbox_server.state.cards[card_id].card_type == "GROUPON"


def test_create_card_logo_url_option(wxcard: Wxcard):
    logo = wxcard.run("upload-logo", str(EXAMPLES / "hotpot-logo.png")).stdout.strip()

    result = wxcard.run("create-card", str(EXAMPLES / "hotpot-groupon.json"), "--logo-url", logo, "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["card_id"]
    [request] = recorded(wxcard.base_url, "card/create")
    sent = json.loads(request["body"])
    assert sent["card"]["groupon"]["base_info"]["logo_url"] == logo


def test_create_card_errors_name_field(wxcard: Wxcard, tmp_path: Path):
    now = int(time.time())

    def break_fields(base_info: dict) -> None:
        base_info["title"] = "132元双人火锅套餐加饮料"
        base_info["color"] = "Color011"
        del base_info["notice"]
        base_info["date_info"] = {"type": "DATE_TYPE_FIX_TIME_RANGE", "begin_timestamp": now + 3600, "end_timestamp": now - 60}

    path = write_card(tmp_path, "bad.json", break_fields)

    result = wxcard.run("create-card", str(path))

    assert result.returncode == 2
    assert "card.groupon.base_info.title: is 33 bytes in UTF-8; the limit is 27 bytes" in result.stderr
    assert "card.groupon.base_info.color: 'Color011' is not a colour name" in result.stderr
    assert "card.groupon.base_info.notice: is required but missing" in result.stderr
    assert "card.groupon.base_info.date_info.begin_timestamp" in result.stderr
    assert "is not before now" in result.stderr
    assert "card.groupon.base_info.date_info.end_timestamp" in result.stderr
    assert "is not after now" in result.stderr
    assert "Traceback" not in result.stderr
    assert recorded(wxcard.base_url, "card/create") == []


def test_create_card_errors_in_chinese(wxcard: Wxcard, tmp_path: Path):
    path = write_card(tmp_path, "bad.json", lambda base_info: base_info.update(title="一二三四五六七八九十"))

    result = wxcard.run("create-card", str(path), "--lang", "zh")

    assert result.returncode == 2
    assert "card.groupon.base_info.title: UTF-8 下为 30 字节；上限为 27 字节（9 个汉字）" in result.stderr


def test_create_card_type_key_mismatch(wxcard: Wxcard, tmp_path: Path):
    path = tmp_path / "mismatch.json"
    card = json.loads((EXAMPLES / "hotpot-groupon.json").read_text(encoding="utf-8"))
    card["card"]["cash"] = card["card"].pop("groupon")
    path.write_text(json.dumps(card, ensure_ascii=False), encoding="utf-8")

    result = wxcard.run("create-card", str(path))

    assert result.returncode == 2
    assert "card_type GROUPON needs its object under the lower-case key 'groupon', found 'cash'" in result.stderr


@pytest.mark.parametrize("check_only", [False, True], ids=["send", "check"])
def test_create_card_logo_url_on_bad_card(wxcard: Wxcard, tmp_path: Path, check_only: bool):
    path = tmp_path / "not-an-object.json"
    path.write_text(json.dumps({"card": {"card_type": "GROUPON", "groupon": "132元双人火锅套餐"}}, ensure_ascii=False), encoding="utf-8")
    options = ["--check"] if check_only else []

    result = wxcard.run("create-card", str(path), "--logo-url", "http://mmbiz.qpic.cn/logo", *options)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "needs its object under the lower-case key 'groupon'" in result.stderr
    assert recorded(wxcard.base_url, "card/create") == []


def test_create_card_time_range_accepted(wxcard: Wxcard, tmp_path: Path):
    now = int(time.time())
    window = {"type": "DATE_TYPE_FIX_TIME_RANGE", "begin_timestamp": now - 86400, "end_timestamp": now + 30 * 86400}
    path = write_card(tmp_path, "range.json", lambda base_info: base_info.update(date_info=window))

    result = wxcard.run("create-card", str(path))

    assert result.returncode == 0, result.stderr
    [request] = recorded(wxcard.base_url, "card/create")
    assert json.loads(request["body"])["card"]["groupon"]["base_info"]["date_info"] == window


def test_create_card_check_sends_nothing(wxcard: Wxcard):
    env = {key: value for key, value in wxcard.env().items() if key != "WXCARD_APPID"}

    result = wxcard.run("create-card", str(EXAMPLES / "hotpot-groupon.json"), "--check", env=env)

    assert result.returncode == 0, result.stderr
    assert "passed the local checks" in result.stdout
    assert recorded(wxcard.base_url, "card/create") == []


# -- qrcode -----------------------------------------------------------------------------


def test_qrcode_single_card(wxcard: Wxcard, tmp_path: Path):
    card_id = create_hotpot_card(wxcard)
    # is_unique_code needs an approved card.
    sandbox_post(wxcard.base_url, f"/sandbox/cards/{card_id}/status", {"status": "CARD_STATUS_VERIFY_OK"})
    png = tmp_path / "qr.png"

    result = wxcard.run(
        "qrcode", card_id, "--outer-str", "readme", "--expire-seconds", "1800", "--unique", "--png", str(png)
    )

    assert result.returncode == 0, result.stderr
    [request] = recorded(wxcard.base_url, "card/qrcode/create")
    body = json.loads(request["body"])
    assert body == {
        "action_name": "QR_CARD",
        "action_info": {"card": {"card_id": card_id, "outer_str": "readme", "is_unique_code": True}},
        "expire_seconds": 1800,
    }
    lines = result.stdout.splitlines()
    assert lines[0].startswith("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=")
    assert any("▄" in line or "▀" in line for line in lines[1:])
    assert "the QR code contains http://weixin.qq.com/q/" in result.stderr
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_qrcode_several_cards(wxcard: Wxcard):
    first = create_hotpot_card(wxcard)
    second = create_hotpot_card(wxcard)

    result = wxcard.run("qrcode", first, second, "--outer-str", "pair", "--json")

    assert result.returncode == 0, result.stderr
    [request] = recorded(wxcard.base_url, "card/qrcode/create")
    body = json.loads(request["body"])
    assert body["action_name"] == "QR_MULTIPLE_CARD"
    assert body["action_info"]["multiple_card"]["card_list"] == [
        {"card_id": first, "outer_str": "pair"},
        {"card_id": second, "outer_str": "pair"},
    ]
    assert json.loads(result.stdout)["show_qrcode_url"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["p1", "p2", "--openid", OPENID], "--openid works only with one CARD_ID"),
        (["p1", "p2", "--unique"], "--unique works only with one CARD_ID"),
        (["p1", "p2", "--code", "123"], "--code was given 1 time(s) for 2 card(s)"),
        (["p1", "--expire-seconds", "30"], "--expire-seconds 30 is out of range"),
        (["p1", "--outer-str", "x" * 129], "--outer-str is 129 bytes"),
    ],
)
def test_qrcode_bad_usage(wxcard: Wxcard, args: list[str], message: str):
    result = wxcard.run("qrcode", *args)

    assert result.returncode == 2
    assert message in result.stderr
    assert recorded(wxcard.base_url, "card/qrcode/create") == []


# -- whitelist --------------------------------------------------------------------------


def test_whitelist_replaces_list(wxcard: Wxcard):
    result = wxcard.run("whitelist", "--openid", OPENID, "--username", "tianye0327", "--username", "eddy_chen")

    assert result.returncode == 0, result.stderr
    [request] = recorded(wxcard.base_url, "card/testwhitelist/set")
    assert json.loads(request["body"]) == {"openid": [OPENID], "username": ["tianye0327", "eddy_chen"]}
    assert "replaces the whole previous test whitelist" in result.stderr
    assert "test whitelist size: 3" in result.stdout
    assert OPENID not in result.stdout


def test_whitelist_limit_checked_locally(wxcard: Wxcard):
    args = [arg for index in range(6) for arg in ("--username", f"user{index}")]
    args += [arg for index in range(5) for arg in ("--openid", f"{OPENID[:-2]}{index:02d}")]

    too_many = wxcard.run("whitelist", *args)
    empty = wxcard.run("whitelist")

    assert too_many.returncode == 2
    assert "11 entries given; the test whitelist holds at most 10" in too_many.stderr
    assert empty.returncode == 2
    assert "--clear" in empty.stderr
    assert recorded(wxcard.base_url, "card/testwhitelist/set") == []


def test_whitelist_clear_sends_empty_lists(wxcard: Wxcard):
    result = wxcard.run("whitelist", "--clear")

    assert result.returncode == 0, result.stderr
    [request] = recorded(wxcard.base_url, "card/testwhitelist/set")
    assert json.loads(request["body"]) == {"openid": [], "username": []}


# -- consume, decrypt, code -------------------------------------------------------------


def test_code_decrypt_and_consume(wxcard: Wxcard):
    card_id = create_hotpot_card(wxcard)
    issued = issue_code(wxcard, card_id)
    code = issued["code"]

    decrypted = wxcard.run("decrypt", issued["encrypt_code"])
    before = wxcard.run("code", code)
    consumed = wxcard.run("consume", code, "--card-id", card_id)
    again = wxcard.run("consume", code, "--card-id", card_id)
    after = wxcard.run("code", code, "--json")

    assert decrypted.returncode == 0, decrypted.stderr
    assert decrypted.stdout.strip() == code
    [decrypt_request] = recorded(wxcard.base_url, "card/code/decrypt")
    assert json.loads(decrypt_request["body"]) == {"encrypt_code": issued["encrypt_code"]}

    assert before.returncode == 0, before.stderr
    assert "status: NORMAL" in before.stdout
    assert f"card_id: {card_id}" in before.stdout
    assert f"owner openid: {OPENID[:4]}" in before.stdout
    assert OPENID not in before.stdout
    assert "can_consume: true" in before.stdout
    assert re.search(r"valid: \d{4}-\d\d-\d\d .* to \d{4}-\d\d-\d\d ", before.stdout)
    assert json.loads(recorded(wxcard.base_url, "card/code/get")[0]["body"]) == {"code": code, "check_consume": False}

    assert consumed.returncode == 0, consumed.stderr
    assert f"of card {card_id}" in consumed.stdout
    assert code not in consumed.stdout
    assert json.loads(recorded(wxcard.base_url, "card/code/consume")[0]["body"]) == {"code": code, "card_id": card_id}

    assert again.returncode == 1
    assert again.stderr.strip().startswith("errcode 40099: the code was already consumed (")

    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["user_card_status"] == "CONSUMED"
    assert json.loads(after.stdout)["can_consume"] is False


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "errcode, meaning, hint",
    [
        (40164, "the caller IP is not in the API IP whitelist", "add this machine's public IP to the API IP whitelist"),
        (45009, "daily API quota reached", "the daily quota is reached"),
        (48001, "API not authorised for this account", "this account may not call this API"),
        (40125, "invalid AppSecret", "check WXCARD_APPSECRET"),
    ],
)
def test_weixin_error_one_line_and_hint(wxcard: Wxcard, errcode: int, meaning: str, hint: str):
    inject_fault(wxcard.base_url, "card/code/get", errcode=errcode, errmsg="sandbox says no")

    result = wxcard.run("code", "123456789012")

    assert result.returncode == 1
    first, second = result.stderr.strip().splitlines()
    assert re.fullmatch(rf"errcode {errcode}: {re.escape(meaning)} \(sandbox says no hint: \[\w+\]\)", first)
    assert second.startswith(f"hint: {hint}")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_wrong_appsecret_hint(wxcard: Wxcard):
    env = wxcard.env(WXCARD_APPSECRET="0" * 32)

    result = wxcard.run("token", env=env)

    assert result.returncode == 1
    first, hint = result.stderr.strip().splitlines()
    assert first.startswith("errcode 40125: invalid AppSecret (invalid appsecret")
    assert hint.startswith("hint: check WXCARD_APPSECRET")


def test_token_rejected_after_refresh(wxcard: Wxcard):
    # The client refreshes the token once on 40001 and retries once, so two faults reach the user.
    inject_fault(wxcard.base_url, "card/code/get", errcode=40001, errmsg="invalid credential", count=2)

    result = wxcard.run("code", "123456789012")

    assert result.returncode == 1
    first, hint = result.stderr.strip().splitlines()
    assert first.startswith("errcode 40001: invalid credential: wrong AppSecret")
    assert hint.startswith("hint: check WXCARD_APPSECRET")
    assert len(recorded(wxcard.base_url, "card/code/get")) == 2


def test_weixin_error_in_chinese(wxcard: Wxcard):
    inject_fault(wxcard.base_url, "card/code/get", errcode=45009, errmsg="reach max api daily quota limit", count=2)

    by_option = wxcard.run("code", "123456789012", "--lang", "zh")
    by_locale = wxcard.run("code", "123456789012", env=wxcard.env(LANG="zh_CN.UTF-8"))

    for result in (by_option, by_locale):
        assert result.returncode == 1
        first, hint = result.stderr.strip().splitlines()
        assert re.fullmatch(r"错误码 45009：接口调用次数已达每日上限（reach max api daily quota limit hint: \[\w+\]）", first)
        assert hint.startswith("提示：今日调用次数已达上限")


def test_weixin_error_json_prints_raw(wxcard: Wxcard):
    inject_fault(wxcard.base_url, "card/code/get", errcode=48001, errmsg="api unauthorized")

    result = wxcard.run("code", "123456789012", "--json")

    assert result.returncode == 1
    printed = json.loads(result.stdout)
    assert printed["errcode"] == 48001
    assert printed["errmsg"].startswith("api unauthorized")
    assert result.stderr.startswith("errcode 48001: ")


def test_network_error_names_host(wxcard: Wxcard):
    port = closed_port()
    env = wxcard.env(WXCARD_API_BASE=f"http://127.0.0.1:{port}")

    english = wxcard.run("token", env=env)
    chinese = wxcard.run("token", "--lang", "zh", env=env)

    assert english.returncode == 1
    assert english.stderr.strip().splitlines() == [
        f"request to 127.0.0.1:{port} failed: ConnectError: All connection attempts failed; check WXCARD_API_BASE and the network"
    ]
    assert chinese.returncode == 1
    assert chinese.stderr.startswith(f"请求 127.0.0.1:{port} 失败：ConnectError")


def test_http_error_is_network_error(wxcard: Wxcard):
    inject_fault(wxcard.base_url, "card/code/get", http_status=502)

    result = wxcard.run("code", "123456789012")

    assert result.returncode == 1
    assert result.stderr.strip() == f"request to 127.0.0.1:{wxcard.base_url.rsplit(':', 1)[1]} failed: HTTP 502; check WXCARD_API_BASE and the network"


def test_missing_setting_exits_2(wxcard: Wxcard):
    env = {key: value for key, value in wxcard.env().items() if key != "WXCARD_APPSECRET"}

    result = wxcard.run("token", env=env)

    assert result.returncode == 2
    assert "WXCARD_APPSECRET: is missing" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "store_url",
    ["redis://:store-password@127.0.0.1:notaport/0", "redis://:store-password@[::1/0", "sqlite:////proc/no-such-dir/store.sqlite3"],
    ids=["redis-port", "redis-host", "sqlite-folder"],
)
def test_unusable_store_exits_2(wxcard: Wxcard, store_url: str):
    result = wxcard.run("token", env=wxcard.env(WXCARD_STORE=store_url))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "WXCARD_STORE" in line
    assert "store-password" not in line


def test_unknown_option_exits_2(wxcard: Wxcard):
    result = wxcard.run("qrcode", "p1", "--no-such-option")

    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr


# -- the seven HelloWorld steps ---------------------------------------------------------


def test_helloworld_seven_steps(wxcard: Wxcard, tmp_path: Path):
    token = wxcard.run("token")
    logo_url = wxcard.run("upload-logo", str(EXAMPLES / "hotpot-logo.png")).stdout.strip()
    card_id = wxcard.run("create-card", str(EXAMPLES / "hotpot-groupon.json"), "--logo-url", logo_url).stdout.strip()
    qrcode = wxcard.run("qrcode", card_id, "--outer-str", "helloworld", "--png", str(tmp_path / "hotpot-qr.png"), "--json")
    whitelist = wxcard.run("whitelist", "--openid", OPENID)
    qr_url = json.loads(qrcode.stdout)["url"]
    scanned = sandbox_post(wxcard.base_url, "/sandbox/qrcodes/scan", {"url": qr_url, "openid": OPENID})
    code = scanned["codes"][0]["code"]
    consume = wxcard.run("consume", code)

    assert token.returncode == 0, token.stderr
    assert logo_url.startswith(wxcard.base_url)
    assert card_id.startswith("p")
    assert qrcode.returncode == 0, qrcode.stderr
    assert (tmp_path / "hotpot-qr.png").is_file()
    assert whitelist.returncode == 0, whitelist.stderr
    assert consume.returncode == 0, consume.stderr
    assert f"of card {card_id}" in consume.stdout
