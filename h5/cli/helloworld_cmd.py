"""The Weixin Cards HelloWorld as subcommands: token, upload-logo, create-card, qrcode,
whitelist, consume, decrypt and code.

Each subcommand calls the API at ``WXCARD_API_BASE`` with the access_token from the
credential cache in ``WXCARD_STORE``, the same cache the server uses. The main result
(the logo URL, the card_id, the QR page URL) is the first line of stdout, alone, so shell
scripts can capture it. Warnings go to stderr.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Any

import segno

from h5.cardspec import load_card_file, validate_card
from h5.cli.messages import text
from h5.cli.runtime import (
    EXIT_OK,
    EXIT_USAGE,
    CommandContext,
    UsageError,
    add_common_options,
    language_of,
    mask,
    run_command,
)
from h5.credentials import ACCESS_TOKEN

MAX_LOGO_BYTES = 1024 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
MAX_WHITELIST = 10
MAX_OUTER_STR_BYTES = 128
QR_EXPIRE_RANGE = (60, 1800)


def register(subparsers: argparse._SubParsersAction) -> None:
    token = subparsers.add_parser("token", help="show the cached access_token and its expiry, fetching one if needed")
    token.add_argument("--reveal", action="store_true", help="print the whole token instead of a masked one")
    add_common_options(token)
    token.set_defaults(handler=lambda args: run_command(args, _token))

    logo = subparsers.add_parser("upload-logo", help="upload a JPG or PNG logo (at most 1 MB) and print its URL")
    logo.add_argument("file", type=Path, metavar="FILE", help="JPG or PNG image; 300x300 px is recommended")
    add_common_options(logo)
    logo.set_defaults(handler=lambda args: run_command(args, _upload_logo, _read_logo))

    card = subparsers.add_parser("create-card", help="check a card JSON file locally, create the card and print its card_id")
    card.add_argument("file", type=Path, metavar="FILE.json", help='card/create body {"card": {...}} or the card object')
    card.add_argument("--logo-url", help="use this logo URL (from upload-logo) instead of base_info.logo_url in the file")
    card.add_argument("--check", action="store_true", help="only run the local checks; send nothing")
    add_common_options(card)
    card.set_defaults(handler=_create_card_handler)

    qrcode = subparsers.add_parser("qrcode", help="create a QR code that issues one card (QR_CARD) or several (QR_MULTIPLE_CARD)")
    qrcode.add_argument("card_ids", nargs="+", metavar="CARD_ID")
    qrcode.add_argument("--outer-str", help="scene string echoed as OuterStr in the user_get_card event (at most 128 bytes)")
    qrcode.add_argument("--code", action="append", default=[], help="custom code to issue; once per CARD_ID, in order")
    qrcode.add_argument("--openid", help="only this user may receive the card (cards with bind_openid); one CARD_ID only")
    qrcode.add_argument("--expire-seconds", type=int, help="validity of the QR code in seconds, 60 to 1800 (default: the longest)")
    qrcode.add_argument("--unique", action="store_true", help="each scan gets a new code and the QR code works once; one CARD_ID only")
    qrcode.add_argument("--png", type=Path, metavar="FILE", help="also write the QR code as a PNG image to FILE")
    add_common_options(qrcode)
    qrcode.set_defaults(handler=lambda args: run_command(args, _qrcode, _build_qrcode_body))

    whitelist = subparsers.add_parser("whitelist", help="replace the test whitelist that may receive cards not yet approved")
    whitelist.add_argument("--openid", action="append", default=[], help="openid to put on the list; repeatable")
    whitelist.add_argument("--username", action="append", default=[], help="Weixin ID to put on the list; repeatable")
    whitelist.add_argument("--clear", action="store_true", help="send an empty list, removing everyone")
    add_common_options(whitelist)
    whitelist.set_defaults(handler=lambda args: run_command(args, _whitelist, _check_whitelist))

    consume = subparsers.add_parser("consume", help="redeem a code")
    consume.add_argument("code", metavar="CODE")
    consume.add_argument("--card-id", help="card_id of the code; required for cards with custom codes")
    add_common_options(consume)
    consume.set_defaults(handler=lambda args: run_command(args, _consume))

    decrypt = subparsers.add_parser("decrypt", help="print the real code behind an encrypt_code")
    decrypt.add_argument("encrypt_code", metavar="ENCRYPT_CODE", help="the encrypt_code exactly as received (quote it: it may contain + and /)")
    add_common_options(decrypt)
    decrypt.set_defaults(handler=lambda args: run_command(args, _decrypt))

    code = subparsers.add_parser("code", help="show the status, owner, validity and can_consume of a code")
    code.add_argument("code", metavar="CODE")
    code.add_argument("--card-id", help="card_id of the code; required for cards with custom codes")
    add_common_options(code)
    code.set_defaults(handler=lambda args: run_command(args, _code))


# -- token ----------------------------------------------------------------------------


async def _token(ctx: CommandContext) -> int:
    cached = await ctx.client.credentials.cached(ACCESS_TOKEN)
    credential = cached or await ctx.client.access_token()
    printed_token = credential.value if ctx.args.reveal else mask(credential.value)
    seconds = max(0, int(credential.expires_at - ctx.client.credentials.clock()))

    if ctx.as_json:
        expiry = {"expires_at": int(credential.expires_at), "expires_in": seconds}
        ctx.print_json({"access_token": printed_token, **expiry, "cached": cached is not None})
        return EXIT_OK

    ctx.say("token_value", token=printed_token)
    if not ctx.args.reveal:
        ctx.note("token_masked_note")
    source = text("token_from_cache" if cached else "token_fetched", ctx.language)
    ctx.say("token_expiry", expires_at=_format_time(credential.expires_at), seconds=seconds, source=source)
    return EXIT_OK


# -- upload-logo ----------------------------------------------------------------------


def _read_logo(args: argparse.Namespace, language: str) -> tuple[str, bytes, str]:
    """Read the logo and check its size and type by content; return the multipart file tuple."""
    path: Path = args.file
    try:
        size = path.stat().st_size
        if size > MAX_LOGO_BYTES:
            raise UsageError(text("logo_too_large", language, path=path, size=size, limit=MAX_LOGO_BYTES))
        content = path.read_bytes()
    except OSError as exc:
        raise UsageError(text("file_unreadable", language, path=path, cause=exc.strerror or exc)) from None

    if content.startswith(PNG_MAGIC):
        return path.name, content, "image/png"
    if content.startswith(JPEG_MAGIC):
        return path.name, content, "image/jpeg"
    raise UsageError(text("logo_not_image", language, path=path))


async def _upload_logo(ctx: CommandContext) -> int:
    filename, content, content_type = ctx.prepared
    data = await ctx.client.call("POST", "cgi-bin/media/uploadimg", files={"buffer": (filename, content, content_type)})
    if ctx.as_json:
        ctx.print_json(data)
    else:
        print(data["url"])
    return EXIT_OK


# -- create-card ----------------------------------------------------------------------


def _create_card_handler(args: argparse.Namespace) -> int:
    if not args.check:
        return run_command(args, _create_card, _load_and_check_card)
    language = language_of(args)
    try:
        _load_and_check_card(args, language)
    except UsageError as exc:
        print(text("usage_error", language, message=exc), file=sys.stderr)
        return EXIT_USAGE
    print(text("card_valid", language, path=args.file))
    return EXIT_OK


def _load_and_check_card(args: argparse.Namespace, language: str) -> dict[str, Any]:
    """Read the card file, apply ``--logo-url`` and run the local checks; raise UsageError on any error."""
    path: Path = args.file
    try:
        card = load_card_file(path)
    except OSError as exc:
        raise UsageError(text("file_unreadable", language, path=path, cause=exc.strerror or exc)) from None
    except ValueError as exc:
        raise UsageError(text("card_file_invalid", language, path=path, cause=exc)) from None

    if args.logo_url:
        _replace_logo_url(card, args.logo_url)

    check = validate_card(card)
    for warning in check.warnings:
        print(text("card_warning", language, message=warning.message(language)), file=sys.stderr)
    if not check.ok:
        header = text("card_invalid", language, path=path, count=len(check.errors))
        raise UsageError("\n".join([header, *(f"  {issue.message(language)}" for issue in check.errors)]))
    return card


def _replace_logo_url(card: Any, logo_url: str) -> None:
    # A card of the wrong shape is left as it is, so that validate_card names the problem.
    if not isinstance(card, dict) or not isinstance(card.get("card_type"), str):
        return
    body = card.get(card["card_type"].lower())
    base_info = body.get("base_info") if isinstance(body, dict) else None
    if isinstance(base_info, dict):
        base_info["logo_url"] = logo_url


async def _create_card(ctx: CommandContext) -> int:
    data = await ctx.client.call("POST", "card/create", {"card": ctx.prepared})
    if ctx.as_json:
        ctx.print_json(data)
    else:
        print(data["card_id"])
    return EXIT_OK


# -- qrcode ---------------------------------------------------------------------------


def _build_qrcode_body(args: argparse.Namespace, language: str) -> dict[str, Any]:
    """Build the card/qrcode/create body: QR_CARD for one card, QR_MULTIPLE_CARD for several."""
    card_ids: list[str] = args.card_ids
    codes: list[str] = args.code
    several = len(card_ids) > 1

    if codes and len(codes) != len(card_ids):
        raise UsageError(text("qr_code_count", language, codes=len(codes), cards=len(card_ids)))
    if several and args.openid:
        raise UsageError(text("qr_single_only", language, option="--openid"))
    if several and args.unique:
        raise UsageError(text("qr_single_only", language, option="--unique"))
    if args.expire_seconds is not None and not QR_EXPIRE_RANGE[0] <= args.expire_seconds <= QR_EXPIRE_RANGE[1]:
        raise UsageError(text("qr_expire_range", language, value=args.expire_seconds))
    if args.outer_str is not None and len(args.outer_str.encode("utf-8")) > MAX_OUTER_STR_BYTES:
        size = len(args.outer_str.encode("utf-8"))
        raise UsageError(text("qr_outer_str_long", language, size=size, limit=MAX_OUTER_STR_BYTES))

    entries = []
    for index, card_id in enumerate(card_ids):
        entry: dict[str, Any] = {"card_id": card_id}
        if codes:
            entry["code"] = codes[index]
        if args.outer_str is not None:
            entry["outer_str"] = args.outer_str
        entries.append(entry)

    if several:
        body: dict[str, Any] = {"action_name": "QR_MULTIPLE_CARD", "action_info": {"multiple_card": {"card_list": entries}}}
    else:
        card = entries[0]
        if args.openid:
            card["openid"] = args.openid
        if args.unique:
            card["is_unique_code"] = True
        body = {"action_name": "QR_CARD", "action_info": {"card": card}}
    if args.expire_seconds is not None:
        body["expire_seconds"] = args.expire_seconds
    return body


async def _qrcode(ctx: CommandContext) -> int:
    result = await ctx.client.create_qrcode(ctx.prepared)
    if ctx.as_json:
        ctx.print_json(result.raw)
    else:
        print(result.show_qrcode_url)

    # The QR code carries ``url``, the content Weixin encodes; show_qrcode_url is a page showing it.
    if not result.url:
        ctx.note("qr_drawing_skipped")
        return EXIT_OK
    qr = segno.make(result.url, error="m")
    if ctx.args.png:
        qr.save(str(ctx.args.png), kind="png", scale=8, border=4)
        ctx.note("qr_png_written", path=ctx.args.png)
    if not ctx.as_json:
        ctx.note("qr_content", url=result.url)
        qr.terminal(out=sys.stdout, compact=True)
    return EXIT_OK


# -- whitelist ------------------------------------------------------------------------


def _check_whitelist(args: argparse.Namespace, language: str) -> tuple[list[str], list[str]]:
    openids = [value.strip() for value in args.openid if value.strip()]
    usernames = [value.strip() for value in args.username if value.strip()]
    count = len(openids) + len(usernames)
    if count == 0 and not args.clear:
        raise UsageError(text("whitelist_empty", language))
    if count > MAX_WHITELIST:
        raise UsageError(text("whitelist_too_many", language, count=count, limit=MAX_WHITELIST))
    return openids, usernames


async def _whitelist(ctx: CommandContext) -> int:
    openids, usernames = ctx.prepared
    # Weixin keeps only the list of the latest call, so warn before replacing the old one.
    ctx.note("whitelist_replaces")
    data = await ctx.client.set_test_whitelist(openids, usernames)
    if ctx.as_json:
        ctx.print_json(data)
        return EXIT_OK
    ctx.say(
        "whitelist_result",
        size=data.get("white_list_size", len(openids) + len(usernames)),
        openids=", ".join(mask(openid) for openid in data.get("success_openid", [])) or "-",
        usernames=", ".join(data.get("success_username", [])) or "-",
    )
    return EXIT_OK


# -- consume, decrypt, code -----------------------------------------------------------


async def _consume(ctx: CommandContext) -> int:
    result = await ctx.client.consume_code(ctx.args.code, ctx.args.card_id)
    if ctx.as_json:
        ctx.print_json(result.raw)
    else:
        ctx.say("consumed", code=mask(ctx.args.code, 2), card_id=result.card_id, openid=mask(result.openid))
    return EXIT_OK


async def _decrypt(ctx: CommandContext) -> int:
    data = await ctx.client.call("POST", "card/code/decrypt", {"encrypt_code": ctx.args.encrypt_code})
    if ctx.as_json:
        ctx.print_json(data)
    else:
        print(data.get("code", ""))
    return EXIT_OK


async def _code(ctx: CommandContext) -> int:
    # check_consume false returns the status of a code that cannot be consumed instead of 40127.
    info = await ctx.client.get_code(ctx.args.code, ctx.args.card_id, check_consume=False)
    if ctx.as_json:
        ctx.print_json(info.raw)
        return EXIT_OK
    unknown = text("unknown_time", ctx.language)
    ctx.say("code_status", status=info.user_card_status or unknown)
    ctx.say("code_card", card_id=info.card_id)
    ctx.say("code_owner", openid=mask(info.openid) if info.openid else "-")
    ctx.say(
        "code_validity",
        begin=_format_time(info.begin_time) if info.begin_time else unknown,
        end=_format_time(info.end_time) if info.end_time else unknown,
    )
    ctx.say("code_can_consume", value=str(info.can_consume).lower())
    return EXIT_OK


def _format_time(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
