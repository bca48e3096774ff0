"""``wxcard demo``: the sandbox, the backend and a merchant page on loopback, with the HelloWorld hotpot card.

The servers contact nothing outside this machine. The demo keeps its files (store,
campaign file, ``.env``) in ``--dir``, so ``wxcard`` commands run in that folder use the
demo's settings. Each run starts with an empty store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import shlex
import sys
import time
from pathlib import Path

import httpx

from h5.app import create_app
from h5.client import WeixinClient
from h5.config import Settings
from h5.context import ROOT
from h5.merchant_demo import MerchantPage
from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.sandbox.server import SandboxServer
from h5.serving import ThreadedServer
from h5.store import open_store

logger = logging.getLogger(__name__)

EXAMPLES = ROOT / "examples"
DEMO_TOKEN = "wxcarddemotoken"
DEMO_OUTER_STR = "ch_moments"
DEMO_OPENID = "o_demo_user"
WEIXIN_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the sandbox and the backend on loopback with a demo coupon")
    parser.add_argument("--port", type=int, default=8000, help="backend port on 127.0.0.1 (default 8000)")
    parser.add_argument("--sandbox-port", type=int, default=8100, help="sandbox port on 127.0.0.1 (default 8100)")
    parser.add_argument("--merchant-port", type=int, default=8200, help="merchant test page port on 127.0.0.1 (default 8200)")
    parser.add_argument("--dir", type=Path, default=Path("wxcard-demo"), help="folder for the demo's store and files")
    parser.add_argument("--once", action="store_true", help="set everything up, print the URLs and exit (for tests)")
    parser.set_defaults(handler=run_demo)


def hotpot_card(custom_url: str, logo_url: str) -> dict:
    """Return the HelloWorld hotpot GROUPON card, with our logo and custom entry filled in."""
    card = json.loads((EXAMPLES / "hotpot-groupon.json").read_text(encoding="utf-8"))["card"]
    base_info = card["groupon"]["base_info"]
    base_info["logo_url"] = logo_url
    base_info["custom_url_name"] = "立即使用"
    base_info["custom_url"] = custom_url
    base_info["custom_url_sub_title"] = "到店出示"
    return card


async def create_demo_card(sandbox: SandboxServer, backend_base: str, store_url: str) -> str:
    """Create, approve and return the demo card through the real client against the sandbox."""
    store = open_store(store_url)
    async with WeixinClient(DEFAULT_APPID, DEFAULT_SECRET, store, sandbox.base_url) as client:
        logo = (EXAMPLES / "hotpot-logo.png").read_bytes()
        logo_url = await client.upload_image("hotpot-logo.png", logo, "image/png")
        card_id = await client.create_card(hotpot_card(f"{backend_base}/cards/redirect?campaign=hotpot", logo_url))
    await store.close()

    # Weixin reviews a new card for up to three working days; the sandbox approves on request.
    httpx.post(f"{sandbox.base_url}/sandbox/cards/{card_id}/status", json={"status": "CARD_STATUS_VERIFY_OK"}, timeout=5)
    return card_id


def demo_store_url(folder: Path) -> str:
    return f"sqlite:///{(folder / 'wxcard.sqlite3').resolve()}"


def write_demo_files(folder: Path, card_id: str, sandbox_base: str, merchant_base: str) -> dict[str, str]:
    """Write campaigns.toml and .env for the demo and return the settings as environment variables."""
    folder.mkdir(parents=True, exist_ok=True)
    campaigns = folder / "campaigns.toml"
    campaigns.write_text(
        f'[campaigns.hotpot]\ncards = ["{card_id}"]\nredirect_to = "{merchant_base}/shop"\n', encoding="utf-8"
    )
    env = {
        "WXCARD_APPID": DEFAULT_APPID,
        "WXCARD_APPSECRET": DEFAULT_SECRET,
        "WXCARD_API_BASE": sandbox_base,
        "WXCARD_CAMPAIGNS": str(campaigns.resolve()),
        "WXCARD_STORE": demo_store_url(folder),
        "WXCARD_SECRET_KEY": secrets.token_urlsafe(32),
        "WXCARD_PUBLIC_HOSTS": "127.0.0.1,localhost",
        "WXCARD_TOKEN": DEMO_TOKEN,
        "WXCARD_MERCHANT_KEY": secrets.token_urlsafe(24),
    }
    (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
    return env


def configure_push(sandbox: SandboxServer, backend_base: str) -> None:
    """Point the sandbox's event pushes at the backend's receiver, in plaintext mode."""
    response = httpx.post(
        f"{sandbox.base_url}/sandbox/push-config",
        json={"url": f"{backend_base}/weixin/events", "mode": "plaintext", "token": DEMO_TOKEN},
        timeout=5,
    )
    if response.status_code != 200:
        logger.warning("the sandbox did not take the push configuration: HTTP %d", response.status_code)


def print_instructions(backend_base: str, sandbox_base: str, merchant_base: str, card_id: str, folder: Path) -> None:
    landing = f"{backend_base}/cards/hotpot?outer_str={DEMO_OUTER_STR}"
    card_ext = f"{backend_base}/cards/hotpot/card-ext?outer_str={DEMO_OUTER_STR}"
    add_card = f"{sandbox_base}/sandbox/client/add-card?openid={DEMO_OPENID}"
    read_code = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"card_list\"][0][\"code\"])'"
    lines = [
        "",
        "wxcard demo is running. Its servers contact nothing outside this machine; a browser",
        "opening the landing page still loads the official JS-SDK from res.wx.qq.com, as in Weixin.",
        f"  sandbox (emulated Weixin): {sandbox_base}",
        f"  merchant test page:        {merchant_base}/shop",
        f"  card_id:                   {card_id}",
        f"  landing page:              {landing}",
        "",
        "In another terminal, walk the coupon's journey (the demo folder's .env configures wxcard):",
        f"  cd {shlex.quote(str(folder.resolve()))}",
        "  # 1. the landing page as Weixin shows it (a plain browser gets the QR fallback)",
        f"  curl -A {shlex.quote(WEIXIN_UA)} {shlex.quote(landing)}",
        "  # 2. the card_ext list that the page passes to wx.addCard",
        f"  curl {shlex.quote(card_ext)}",
        f"  # 3. user {DEMO_OPENID} adds the card in the sandbox's Weixin client; Weixin pushes user_get_card",
        f"  ENCRYPT_CODE=$(curl -s {shlex.quote(card_ext)} | curl -s -H 'Content-Type: application/json' "
        f"--data @- {shlex.quote(add_card)} | {read_code})",
        "  # 4. the user taps the coupon's custom entry: our redirect hands it to the merchant page",
        '  CODE=$(wxcard decrypt "$ENCRYPT_CODE")',
        f'  curl -sL "$(wxcard sandbox --redirect-url "$CODE" --sandbox-url {sandbox_base})"',
        "  # 5. the cashier consumes it (or tap 核销 on the merchant page); Weixin pushes user_consume_card",
        '  wxcard consume "$CODE"',
        "  # 6. the stored events and the channel report",
        "  wxcard events",
        "  wxcard report",
        "",
        "Press Ctrl+C to stop.",
    ]
    print("\n".join(lines), flush=True)


def clear_demo_store(folder: Path) -> None:
    """Delete the previous run's store: its tokens belong to a sandbox that no longer runs, and its events to old cards."""
    for path in folder.glob("wxcard.sqlite3*"):
        path.unlink()
        logger.info("demo removed the previous run's %s", path)


def start_servers(args: argparse.Namespace) -> tuple[SandboxServer, ThreadedServer, ThreadedServer] | str:
    """Start the sandbox, the merchant page and the backend; return them or a message saying which port failed."""
    clear_demo_store(args.dir)
    sandbox = SandboxServer(port=args.sandbox_port)
    try:
        sandbox.start()
    except (OSError, RuntimeError) as exc:
        return f"cannot start the sandbox on 127.0.0.1:{args.sandbox_port}: {exc}; choose another --sandbox-port"

    backend_base = f"http://127.0.0.1:{args.port}"
    merchant_base = f"http://127.0.0.1:{args.merchant_port}"
    args.dir.mkdir(parents=True, exist_ok=True)
    card_id = asyncio.run(create_demo_card(sandbox, backend_base, demo_store_url(args.dir)))
    env = write_demo_files(args.dir, card_id, sandbox.base_url, merchant_base)

    merchant_page = MerchantPage(backend_base=backend_base, merchant_key=env["WXCARD_MERCHANT_KEY"])
    try:
        merchant = ThreadedServer(merchant_page.app(), port=args.merchant_port, name="merchant").start()
    except (OSError, RuntimeError) as exc:
        sandbox.stop()
        return f"cannot start the merchant test page on {merchant_base}: {exc}; choose another --merchant-port"
    try:
        backend = ThreadedServer(create_app(Settings.from_env(env)), port=args.port, name="backend").start()
    except (OSError, RuntimeError) as exc:
        merchant.stop()
        sandbox.stop()
        return f"cannot start the backend on {backend_base}: {exc}; choose another --port"

    configure_push(sandbox, backend_base)
    print_instructions(backend_base, sandbox.base_url, merchant_base, card_id, args.dir)
    return sandbox, merchant, backend


def run_demo(args: argparse.Namespace) -> int:
    started = start_servers(args)
    if isinstance(started, str):
        print(f"wxcard demo: {started}", file=sys.stderr)
        return 2

    try:
        while not args.once:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for server in reversed(started):
            server.stop()
    return 0
