"""``wxcard campaigns``: each campaign card with its state from ``card/get``.

Exit codes:

* 0 when every card can be added: approved, or in review for whitelisted users;
* 1 when a card cannot be added (rejected, deleted, not found for this appid), when
  Weixin could not be reached or returned another error, or when the store failed;
* 2 on a missing or invalid setting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from h5.campaign_check import DELETED, ERROR, NOT_FOUND, REJECTED, UNREACHABLE, CardCheck, check_campaigns
from h5.cli.backend_setup import SetupError, load_settings, open_context
from h5.context import AppContext

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "campaigns",
        help="list every campaign card with its state: approved, in_review, rejected, deleted or not_found",
    )
    parser.add_argument("--json", action="store_true", help="print the states as a JSON list instead of a table")
    parser.set_defaults(handler=run_campaigns)


async def _check(ctx: AppContext) -> list[CardCheck]:
    try:
        return await check_campaigns(ctx)
    finally:
        await ctx.client.aclose()
        await ctx.store.close()


def format_table(checks: list[CardCheck]) -> str:
    """Return the checks as a text table; the title comes last because CJK text breaks column widths."""
    header = ("CAMPAIGN", "CARD_ID", "STATE", "TITLE OR DETAIL")
    rows = [(c.campaign, c.card_id, c.state, c.title or c.detail) for c in checks]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    lines = []
    for row in [header, *rows]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3])
    return "\n".join(lines)


def run_campaigns(args: argparse.Namespace) -> int:
    try:
        ctx = open_context(load_settings(serving=False))
    except SetupError as exc:
        print(f"wxcard campaigns: {exc}", file=sys.stderr)
        return EXIT_USAGE

    try:
        checks = asyncio.run(_check(ctx))
    except Exception as exc:  # noqa: BLE001 - the command line never shows a traceback
        # Weixin errors become card states, so what arrives here failed elsewhere, mostly in the store.
        logger.debug("campaign check failed", exc_info=True)
        print(
            f"wxcard campaigns: checking the cards failed: {type(exc).__name__}: {exc}; "
            "check that WXCARD_STORE is reachable, or rerun with --log-level DEBUG for details",
            file=sys.stderr,
        )
        return EXIT_FAILED

    if args.json:
        print(json.dumps([check.as_dict() for check in checks], ensure_ascii=False, indent=2))
    else:
        print(format_table(checks))

    failed = [check for check in checks if check.state in (UNREACHABLE, ERROR)]
    if failed:
        print(f"wxcard campaigns: Weixin failed for {len(failed)} card(s): {failed[0].detail}", file=sys.stderr)
        return EXIT_FAILED

    blocked = [check for check in checks if check.state in (REJECTED, DELETED, NOT_FOUND)]
    if blocked:
        first = blocked[0]
        print(
            f"wxcard campaigns: {len(blocked)} card(s) cannot be added, e.g. {first.card_id} in "
            f"campaign {first.campaign} is {first.state}; fix or remove it in the campaign file",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK
