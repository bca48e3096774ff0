"""``wxcard deposit CARD_ID FILE``: import custom codes in resumable batches of 100.

After the batches it prints the counts, writes the failed codes to a file and checks the
total with ``card/code/getdepositcount``. With ``--modify-stock`` it raises the stock by
the number of codes of this file that Weixin accepted, once per file even when rerun,
so the stock does not exceed the codes available to issue.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from h5.cli.messages import text
from h5.cli.runtime import EXIT_OK, CommandContext, UsageError, add_common_options, run_command
from h5.deposit import (
    MAX_CODE_BYTES,
    CodeFile,
    DepositProgress,
    DepositRun,
    FailedCodeWriter,
    deposit_batches,
    raise_stock_once,
    scan_code_file,
)
from h5.errors import WeixinError

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "deposit",
        help="import custom codes (one a line) into a GET_CUSTOM_CODE_MODE_DEPOSIT card; rerun to resume",
    )
    parser.add_argument("card_id", metavar="CARD_ID")
    parser.add_argument("file", type=Path, metavar="FILE", help="text file with one code per line (UTF-8)")
    parser.add_argument(
        "--modify-stock",
        action="store_true",
        help="afterwards raise the stock by the number of codes of this file that Weixin accepted (once per file)",
    )
    parser.add_argument("--failed-file", type=Path, help="where to write the failed codes (default: FILE.failed)")
    parser.add_argument("--restart", action="store_true", help="forget the stored progress of this file and send every batch again")
    add_common_options(parser)
    parser.set_defaults(handler=lambda args: run_command(args, _deposit, _scan))


def _scan(args: argparse.Namespace, language: str) -> CodeFile:
    try:
        code_file = scan_code_file(args.file)
    except OSError as exc:
        raise UsageError(text("file_unreadable", language, path=args.file, cause=exc.strerror or exc)) from None
    except UnicodeDecodeError as exc:
        raise UsageError(text("file_unreadable", language, path=args.file, cause=exc)) from None

    print(
        text(
            "deposit_read",
            language,
            path=args.file,
            lines=code_file.lines,
            unique=code_file.unique,
            blank=code_file.blank,
            local_duplicates=code_file.local_duplicates,
        ),
        file=sys.stderr,
    )
    if code_file.too_long:
        print(text("deposit_too_long", language, count=len(code_file.too_long), limit=MAX_CODE_BYTES), file=sys.stderr)
    return code_file


async def _deposit(ctx: CommandContext) -> int:
    code_file: CodeFile = ctx.prepared
    card_id: str = ctx.args.card_id
    progress = DepositProgress(ctx.store, ctx.settings.appid, card_id, code_file.digest)
    if ctx.args.restart:
        await progress.forget(code_file.batch_count)

    run = DepositRun(batch_count=code_file.batch_count)
    failed_path: Path = ctx.args.failed_file or code_file.path.with_name(code_file.path.name + ".failed")
    failed_writer = FailedCodeWriter(failed_path)
    logger.info("deposit of %d codes into card_id=%s started, %d batches", code_file.sendable, card_id, run.batch_count)

    bar = tqdm(total=code_file.sendable, unit="code", file=sys.stderr, disable=None, desc="deposit")
    try:
        await deposit_batches(ctx.client, card_id, code_file, progress, run, failed_writer, bar.update)
    except (WeixinError, asyncio.CancelledError):
        # The batches before the error keep their stored results, so a rerun resumes after them.
        # Ctrl-C arrives here as CancelledError, because asyncio.run cancels the command on SIGINT.
        bar.close()
        ctx.note("deposit_stopped", done=run.batches_done, batches=run.batch_count)
        logger.info("deposit into card_id=%s stopped after %d of %d batches", card_id, run.batches_done, run.batch_count)
        raise
    finally:
        bar.close()
        failed_writer.close()

    if run.batches_skipped:
        ctx.note("deposit_resuming", done=run.batches_skipped, batches=run.batch_count)
    count = await ctx.client.get_deposit_count(card_id)
    stock: tuple[int, bool] | None = None
    if ctx.args.modify_stock:
        stock = await raise_stock_once(ctx.client, card_id, progress, run.succeeded)
    logger.info("deposit into card_id=%s finished: %d succeeded, %d duplicate, %d failed", card_id, run.succeeded, run.duplicate, run.failed)

    if ctx.as_json:
        ctx.print_json(_summary(card_id, run, failed_writer, count, stock))
        return EXIT_OK

    ctx.say("deposit_summary", succeeded=run.succeeded, duplicate=run.duplicate, failed=run.failed)
    if failed_writer.count:
        ctx.say("deposit_failed_file", path=failed_path)
    ctx.say("deposit_count", count=count, card_id=card_id)
    if count < run.succeeded:
        ctx.note("deposit_count_low", count=count, succeeded=run.succeeded)
    if stock is not None:
        increase, raised_now = stock
        ctx.say("deposit_stock_raised" if raised_now else "deposit_stock_done", increase=increase)
    return EXIT_OK


def _summary(card_id: str, run: DepositRun, failed_writer: FailedCodeWriter, count: int, stock: tuple[int, bool] | None) -> dict:
    summary = {
        "card_id": card_id,
        "batches": run.batch_count,
        "batches_skipped": run.batches_skipped,
        "succeeded": run.succeeded,
        "duplicate": run.duplicate,
        "failed": run.failed,
        "failed_file": str(failed_writer.path) if failed_writer.count else None,
        "deposit_count": count,
    }
    if stock is not None:
        summary["stock_increase"] = stock[0]
        summary["stock_raised_now"] = stock[1]
    return summary
