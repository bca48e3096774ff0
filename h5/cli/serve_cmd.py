"""``wxcard serve``: run the backend with uvicorn in the foreground.

Settings, the campaign file and the store are checked before uvicorn starts, so a
missing or invalid one stops the command with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

import uvicorn

from h5.app import create_app
from h5.asgi import LOG_LEVEL_ENV
from h5.cli.backend_setup import SetupError, close_context, load_settings, open_context

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_USAGE = 0, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the backend: landing pages, custom-entry redirects and event pushes")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument(
        "--workers", type=int, default=1, help="number of worker processes (default 1); they share WXCARD_STORE",
    )
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        print(f"wxcard serve: --port {args.port} is outside 0..65535", file=sys.stderr)
        return EXIT_USAGE
    if args.workers < 1:
        print(f"wxcard serve: --workers {args.workers} must be 1 or more", file=sys.stderr)
        return EXIT_USAGE

    try:
        settings = load_settings(serving=True)
        # Open everything once here, so a bad campaign file or store URL stops the
        # command before uvicorn starts instead of in every worker.
        ctx = open_context(settings)
    except SetupError as exc:
        print(f"wxcard serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    asyncio.run(close_context(ctx))

    log_level = str(getattr(args, "log_level", "INFO")).upper()
    logger.info(
        "serving appid=%s on %s:%d with %d worker(s), %d campaign(s)",
        settings.appid, args.host, args.port, args.workers, len(ctx.campaigns),
    )
    common = {"host": args.host, "port": args.port, "log_config": None, "log_level": log_level.lower(), "proxy_headers": True}

    if args.workers == 1:
        uvicorn.run(create_app(settings), **common)
        return EXIT_OK

    # Workers are separate processes started by uvicorn; each builds its app from the
    # same environment, and the log level travels with it.
    os.environ[LOG_LEVEL_ENV] = log_level
    uvicorn.run("h5.asgi:create_app_from_env", factory=True, workers=args.workers, **common)
    return EXIT_OK
