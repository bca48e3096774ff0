"""The ``wxcard`` command: one subcommand per module in ``COMMAND_MODULES``.

Each module has ``register(subparsers)``, which adds its subcommands and sets
``handler`` on each parser. A handler takes the parsed arguments and returns the exit
code: 0 on success, 1 when Weixin or the network failed, 2 on bad usage or settings.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMAND_MODULES = [
    "h5.cli.serve_cmd",
    "h5.cli.sandbox_cmd",
    "h5.cli.demo_cmd",
    "h5.cli.campaigns_cmd",
    "h5.cli.helloworld_cmd",
    "h5.cli.deposit_cmd",
    "h5.cli.events_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wxcard", description="Weixin Cards & Offers backend and tools.")
    parser.add_argument("--log-level", default="INFO", help="logging level for this command (default INFO)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # TODO: every listed module exists once the CLI is complete; drop this guard then.
            if exc.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # httpx logs every request at INFO; our client logs what matters without the query string.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
