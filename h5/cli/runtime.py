"""Shared parts of the HelloWorld and deposit subcommands: options, settings, the client, errors.

``run_command`` reads the settings, opens the store named by ``WXCARD_STORE`` (the
credential cache the server uses), builds a ``WeixinClient`` on ``WXCARD_API_BASE`` and
runs one async command. It turns every expected failure into one or two lines on stderr
and an exit code: 1 when Weixin or the network failed, 2 on bad usage or settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sqlite3
import sys
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from h5.cli.messages import LANGUAGES, cli_language, text, weixin_error_lines
from h5.client import WeixinClient
from h5.config import SettingError, Settings
from h5.errors import WeixinAPIError, WeixinTransportError
from h5.store import Store, StoreURLError, open_store

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


# Errors of opening a store besides StoreURLError: a SQLite file that cannot be created,
# or a Redis URL that redis-py cannot parse (ValueError).
STORE_OPEN_ERRORS = (ValueError, OSError, sqlite3.Error)


def store_open_problem(exc: Exception) -> str:
    """Return the line for a store that cannot be opened, without the URL, which may carry a Redis password."""
    return (
        f"WXCARD_STORE: cannot open it ({exc}); point it at a writable file such as "
        "sqlite:///var/wxcard.sqlite3 or a Redis server such as redis://127.0.0.1:6379/0"
    )


class UsageError(Exception):
    """Bad input found before anything is sent; the message is already in the output language."""


@dataclass
class CommandContext:
    """The arguments, output language, settings, store and client of one command run."""

    args: argparse.Namespace
    language: str
    settings: Settings
    store: Store
    client: WeixinClient
    prepared: Any = None

    @property
    def as_json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def say(self, key: str, **values: object) -> None:
        """Print the message ``key`` to stdout in the output language."""
        print(text(key, self.language, **values))

    def note(self, key: str, **values: object) -> None:
        """Print the message ``key`` to stderr, for warnings and progress next to the result."""
        print(text(key, self.language, **values), file=sys.stderr)

    def print_json(self, data: Any) -> None:
        print(json.dumps(data, ensure_ascii=False, indent=2))


Command = Callable[[CommandContext], Awaitable[int]]
Prepare = Callable[[argparse.Namespace, str], Any]


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--json`` and ``--lang`` to a subcommand parser."""
    parser.add_argument("--json", action="store_true", help="print the raw API result as JSON")
    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=None,
        help="language of messages: en or zh (default: zh when LC_ALL, LC_MESSAGES or LANG starts with zh)",
    )


def mask(value: str, keep: int = 4) -> str:
    """Return ``value`` with all but ``keep`` characters at each end replaced, for tokens, openids and codes."""
    if len(value) <= keep * 2:
        return "*" * len(value)
    return f"{value[:keep]}{'*' * min(len(value) - keep * 2, 8)}{value[-keep:]}"


def run_command(args: argparse.Namespace, command: Command, prepare: Prepare | None = None) -> int:
    """Run ``command`` with a client on the configured API base and return the exit code.

    ``prepare(args, language)`` runs first, before the settings are read, for the local
    checks that need no credentials; it raises ``UsageError`` and its result becomes
    ``CommandContext.prepared``.
    """
    language = language_of(args)

    # httpx logs every request URL at INFO, and the access_token travels in the query string.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # These subcommands print one line for each failure themselves, which INFO logs and the
    # client's warnings on stderr would bury, so the default level here is ERROR.
    # NOTE: an explicit --log-level INFO looks the same as the default, so it also becomes ERROR.
    if str(getattr(args, "log_level", "INFO")).upper() == "INFO":
        logging.getLogger().setLevel(logging.ERROR)

    prepared = None
    if prepare is not None:
        try:
            prepared = prepare(args, language)
        except UsageError as exc:
            _error(text("usage_error", language, message=exc))
            return EXIT_USAGE

    try:
        settings = Settings.from_env()
    except SettingError as exc:
        _error(text("setting_error", language, message=exc))
        return EXIT_USAGE
    try:
        store = open_store(settings.store_url)
    except StoreURLError as exc:
        _error(text("store_error", language, message=exc))
        return EXIT_USAGE
    except STORE_OPEN_ERRORS as exc:
        _error(text("store_error", language, message=store_open_problem(exc)))
        return EXIT_USAGE

    try:
        return asyncio.run(_run_with_client(args, language, settings, store, prepared, command))
    except UsageError as exc:
        _error(text("usage_error", language, message=exc))
        return EXIT_USAGE
    except WeixinAPIError as exc:
        logger.info("%s failed with errcode=%d", exc.path, exc.errcode)
        if getattr(args, "json", False):
            print(json.dumps({"errcode": exc.errcode, "errmsg": exc.errmsg}, ensure_ascii=False))
        for line in weixin_error_lines(exc.errcode, exc.errmsg, language):
            _error(line)
        return EXIT_FAILED
    except WeixinTransportError as exc:
        logger.info("%s failed: request to %s: %s", exc.path, exc.host, exc.cause)
        _error(text("network_error", language, host=exc.host, cause=exc.cause))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error(text("interrupted", language))
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (e.g. `| head -1`); Python would complain again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - the command line never shows a traceback
        logger.debug("unexpected error in %s", getattr(args, "command", "?"), exc_info=True)
        _error(text("unexpected_error", language, message=f"{type(exc).__name__}: {exc}"))
        return EXIT_FAILED


def language_of(args: argparse.Namespace) -> str:
    """Return the output language from ``--lang`` or the locale."""
    return cli_language(getattr(args, "lang", None))


async def _run_with_client(
    args: argparse.Namespace, language: str, settings: Settings, store: Store, prepared: Any, command: Command
) -> int:
    # The client is created inside the event loop that uses it, as httpx requires.
    client = WeixinClient(settings.appid, settings.appsecret, store, api_base=settings.api_base, timeout=settings.http_timeout)
    try:
        return await command(CommandContext(args, language, settings, store, client, prepared))
    finally:
        await client.aclose()
        await store.close()


def _error(line: str) -> None:
    print(line, file=sys.stderr)
