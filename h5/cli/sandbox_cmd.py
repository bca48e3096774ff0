"""``wxcard sandbox``: run the offline Weixin emulator, or ask a running one for a redirect URL.

``wxcard sandbox --host H --port P [--appid A --secret S]`` serves the sandbox in the
foreground until Ctrl-C. With ``--push-url URL`` it pushes card events to URL as Weixin
does (``--push-mode secure`` encrypts them). ``wxcard sandbox --redirect-url CODE``
requests from a running sandbox the URL Weixin would open when the user who received
CODE taps the card's custom entry.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

import httpx
import uvicorn

from h5.sandbox import DEFAULT_APPID, DEFAULT_PORT, DEFAULT_SECRET
from h5.sandbox.app import create_sandbox_app
from h5.sandbox.pusher import PUSH_MODES, PushConfig, pusher_for
from h5.sandbox.state import SandboxState

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="run the offline Weixin emulator, or print a custom-entry redirect URL from a running one",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    parser.add_argument("--appid", default=DEFAULT_APPID, help=f"appid the sandbox accepts (default {DEFAULT_APPID})")
    parser.add_argument("--secret", default=DEFAULT_SECRET, help="AppSecret for --appid (default: the built-in demo secret)")
    parser.add_argument(
        "--redirect-url", metavar="CODE",
        help="print the URL Weixin opens for CODE's custom entry, asked from a running sandbox, and exit",
    )
    parser.add_argument("--card-id", help="with --redirect-url: the card_id, needed when custom codes repeat across cards")
    parser.add_argument(
        "--sandbox-url",
        help="with --redirect-url: base URL of the running sandbox (default http://127.0.0.1:PORT)",
    )
    parser.add_argument("--url", metavar="BASE", help="with --redirect-url: use BASE instead of the card's custom_url")
    parser.add_argument(
        "--push-url", metavar="URL",
        help="push card events to this server URL as Weixin does, e.g. http://127.0.0.1:8000/weixin/events",
    )
    parser.add_argument("--push-mode", choices=PUSH_MODES, default="plaintext", help="push encryption mode (default plaintext)")
    parser.add_argument("--push-token", help="Token that signs pushes (default: WXCARD_TOKEN from the environment)")
    parser.add_argument(
        "--push-aes-key", help="EncodingAESKey for --push-mode secure (default: WXCARD_AES_KEY from the environment)",
    )
    parser.set_defaults(handler=run_sandbox_command)


def run_sandbox_command(args: argparse.Namespace) -> int:
    if args.redirect_url is not None:
        return print_redirect_url(args)
    if args.card_id or args.sandbox_url or args.url:
        print("wxcard sandbox: --card-id, --sandbox-url and --url only go with --redirect-url CODE", file=sys.stderr)
        return EXIT_USAGE
    return serve(args)


def serve(args: argparse.Namespace) -> int:
    """Run the sandbox in the foreground until interrupted."""
    if not 0 <= args.port <= 65535:
        print(f"wxcard sandbox: --port {args.port} is not a port number (0..65535)", file=sys.stderr)
        return EXIT_USAGE
    if not args.appid or not args.secret:
        print("wxcard sandbox: --appid and --secret must not be empty", file=sys.stderr)
        return EXIT_USAGE
    try:
        push_config = _push_config(args)
    except ValueError as exc:
        print(f"wxcard sandbox: {exc}", file=sys.stderr)
        return EXIT_USAGE

    # Bind first, so a busy port is one clear line and exit 1 instead of uvicorn's own exit.
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit TCP_NODELAY, which spares keep-alive requests a ~40 ms delayed-ACK wait.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        sock.close()
        print(f"wxcard sandbox: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; try another --port",
              file=sys.stderr)
        return EXIT_FAILED
    port = sock.getsockname()[1]

    state = SandboxState(args.appid, args.secret)
    if push_config is not None:
        pusher_for(state).configure(push_config)
    server = uvicorn.Server(uvicorn.Config(create_sandbox_app(state), log_level="warning", access_log=False))
    logger.info("sandbox starting on http://%s:%d appid=%s", args.host, port, args.appid)
    print(f"wxcard sandbox: emulating Weixin on http://{args.host}:{port} for appid {args.appid}; Ctrl-C stops it",
          flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        logger.info("sandbox stopped on http://%s:%d appid=%s", args.host, port, args.appid)
    return EXIT_OK


def _push_config(args: argparse.Namespace) -> PushConfig | None:
    """Return the push configuration from the --push-* options, or None without --push-url."""
    if not args.push_url:
        return None
    return PushConfig(
        url=args.push_url,
        mode=args.push_mode,
        token=args.push_token or os.environ.get("WXCARD_TOKEN", ""),
        encoding_aes_key=args.push_aes_key or os.environ.get("WXCARD_AES_KEY", ""),
    )


def print_redirect_url(args: argparse.Namespace) -> int:
    """Ask a running sandbox for the custom-entry URL of a code and print it."""
    base = (args.sandbox_url or f"http://127.0.0.1:{args.port}").rstrip("/")
    params = {"code": args.redirect_url}
    if args.card_id:
        params["card_id"] = args.card_id
    if args.url:
        params["url"] = args.url

    # httpx logs each request URL at INFO, and this one carries the code.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        response = httpx.get(f"{base}/sandbox/redirect-url", params=params, timeout=5, trust_env=False)
    except httpx.HTTPError as exc:
        print(f"wxcard sandbox: cannot reach the sandbox at {base}: {type(exc).__name__}: {exc}; "
              "start it with `wxcard sandbox` or pass --sandbox-url", file=sys.stderr)
        return EXIT_FAILED

    try:
        answer = response.json()
    except ValueError:
        print(f"wxcard sandbox: {base} returned HTTP {response.status_code} without JSON; check that --sandbox-url is a sandbox",
              file=sys.stderr)
        return EXIT_FAILED
    if response.status_code != 200 or "url" not in answer:
        reason = answer.get("error") or answer.get("errmsg") or f"HTTP {response.status_code}"
        print(f"wxcard sandbox: no redirect URL for that code: {reason}", file=sys.stderr)
        return EXIT_FAILED
    print(answer["url"])
    return EXIT_OK
