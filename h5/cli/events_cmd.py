"""``wxcard events`` and ``wxcard report``: read the stored card events.

Both read only the store named by ``WXCARD_STORE`` (environment, then ``.env``; default
``sqlite:///wxcard.sqlite3``), so they run without the Official Account credentials.
Coupon codes are masked to their last 4 characters in every output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from h5.events.report import channel_report
from h5.store import StoredEvent, StoreURLError, open_store

DEFAULT_STORE_URL = "sqlite:///wxcard.sqlite3"
# Fields that hold a coupon code, or a code the user typed to redeem one.
CODE_FIELDS = ("UserCardCode", "OldUserCardCode", "VerifyCode")


class UsageError(ValueError):
    """A bad option value; the message is printed as one line and the exit code is 2."""


def register(subparsers: argparse._SubParsersAction) -> None:
    events = subparsers.add_parser("events", help="list stored card events, oldest first")
    events.add_argument("--json", action="store_true", help="print one JSON object per line")
    events.add_argument("--event", metavar="TYPE", help="only events of this type, e.g. user_get_card")
    events.add_argument(
        "--since",
        metavar="TIME",
        help="only events received at or after TIME: ISO 8601 (local time unless it has an offset) or Unix seconds",
    )
    events.add_argument("--card-id", metavar="ID", help="only events of this card_id")
    events.set_defaults(handler=run_events)

    report = subparsers.add_parser(
        "report", help="per outer_str and card: cards received, consumed, deleted and the conversion rate"
    )
    report.add_argument("--json", action="store_true", help="print one JSON object per line")
    report.set_defaults(handler=run_report)


def run_events(args: argparse.Namespace) -> int:
    try:
        since = parse_time(args.since) if args.since else None
    except UsageError as exc:
        print(f"wxcard events: {exc}", file=sys.stderr)
        return 2

    status, events = _load_events("events", event_type=args.event, card_id=args.card_id, since=since)
    if status:
        return status
    for event in events:
        print(json.dumps(event_json(event), ensure_ascii=False) if args.json else event_line(event))
    if not events and not args.json:
        print("no events stored", file=sys.stderr)
    return 0


def run_report(args: argparse.Namespace) -> int:
    status, events = _load_events("report")
    if status:
        return status
    rows = channel_report(events)
    if args.json:
        for row in rows:
            print(json.dumps(row.to_dict(), ensure_ascii=False))
        return 0
    if not rows:
        print("no user_get_card, user_consume_card or user_del_card events stored", file=sys.stderr)
        return 0
    print(f"{'OUTER_STR':<24} {'CARD_ID':<32} {'RECEIVED':>8} {'CONSUMED':>8} {'DELETED':>8} {'CONVERSION':>10}")
    for row in rows:
        rate = "-" if row.conversion_rate is None else f"{row.conversion_rate:.1%}"
        print(
            f"{row.outer_str or '(none)':<24} {row.card_id:<32} {row.received:>8} {row.consumed:>8} {row.deleted:>8} {rate:>10}"
        )
    return 0


def parse_time(text: str) -> float:
    """Return Unix seconds for ``text``: digits are Unix seconds, anything else ISO 8601."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        # float() also reads "nan" and "inf", which no store can compare with.
        if not math.isfinite(seconds):
            raise UsageError(f"--since {text!r} is not a time; give Unix seconds such as 1714000000, or ISO 8601")
        return seconds
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r} is not a time; give ISO 8601 such as 2024-05-01T08:00:00+08:00, or Unix seconds") from None
    return moment.timestamp()


def store_url_from_env() -> str:
    """Return ``WXCARD_STORE`` from the environment, else from ``.env``, else the default."""
    if os.environ.get("WXCARD_STORE"):
        return os.environ["WXCARD_STORE"]
    env_file = Path(".env")
    if env_file.is_file():
        value = dotenv_values(env_file).get("WXCARD_STORE")
        if value:
            return value
    return DEFAULT_STORE_URL


def _load_events(command: str, **filters: Any) -> tuple[int, list[StoredEvent]]:
    url = store_url_from_env()
    # Reading must not create an empty database file where none was configured.
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        print(f"wxcard {command}: no store file at {url[len('sqlite:///'):]}; set WXCARD_STORE to the backend's store", file=sys.stderr)
        return 1, []
    try:
        store = open_store(url)
    except StoreURLError as exc:
        print(f"wxcard {command}: {exc}", file=sys.stderr)
        return 2, []

    async def read() -> list[StoredEvent]:
        try:
            return await store.list_events(**filters)
        finally:
            await store.close()

    try:
        return 0, asyncio.run(read())
    except Exception as exc:  # noqa: BLE001 - any store failure is reported as one line
        print(f"wxcard {command}: reading {url.split('@')[-1]} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1, []


def mask_code(code: Any) -> Any:
    """Return ``code`` with all but its last 4 characters replaced by ``*``."""
    if not isinstance(code, str) or not code:
        return code
    return "*" * max(len(code) - 4, 0) + code[-4:]


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def event_json(event: StoredEvent) -> dict[str, Any]:
    fields = {name: mask_code(value) if name in CODE_FIELDS else value for name, value in event.fields.items()}
    return {
        "id": event.event_id,
        "received_at": _iso(event.received_at),
        "delivered_at": _iso(event.delivered_at),
        "event": event.fields.get("Event", ""),
        "card_id": event.fields.get("CardId", ""),
        "fields": fields,
    }


def event_line(event: StoredEvent) -> str:
    fields = event.fields
    parts = [
        _iso(event.received_at) or "",
        str(fields.get("Event", "")),
        f"card_id={fields.get('CardId', '')}",
        f"openid={fields.get('FromUserName', '')}",
    ]
    if fields.get("UserCardCode"):
        parts.append(f"code={mask_code(fields['UserCardCode'])}")
    if fields.get("OuterStr"):
        parts.append(f"outer_str={fields['OuterStr']}")
    return "  ".join(parts)
