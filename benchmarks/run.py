"""Speed and memory measurements of wxcard-h5, each a ratio measured side by side in one run.

Run ``python -m benchmarks.run`` from the repository root; it prints a Markdown report
(the machine, then one row per measurement) for ``docs/benchmarks.md``. Nothing here
asserts a time: the numbers are records, not tests.
"""

from __future__ import annotations

import asyncio
import os
import platform
import random
import statistics
import string
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import httpx
import user_agents

from h5.app import create_app
from h5.config import Settings
from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.sandbox.server import SandboxServer
from h5.serving import ThreadedServer
from h5.useragent import classify
from signer import build_card_ext, make_nonce

ANDROID_TEMPLATE = (
    "Mozilla/5.0 (Linux; Android 12; {model} Build/SP1A.{build}; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/122.0.6261.120 Mobile Safari/537.36 XWEB/1220099 MMWEBSDK/20240404 MMWEBID/{webid} "
    "MicroMessenger/8.0.49.2600(0x28003133) WeChat/arm64 Weixin NetType/5G Language/zh_CN ABI/arm64"
)


def unique_android_agents(count: int) -> list[str]:
    """Return ``count`` distinct Android Weixin user agents, as real traffic has them."""
    rng = random.Random(7)
    agents = set()
    while len(agents) < count:
        model = "".join(rng.choices(string.ascii_uppercase + string.digits, k=7))
        agents.add(ANDROID_TEMPLATE.format(model=model, build=rng.randrange(10**6), webid=rng.randrange(10**4)))
    return sorted(agents)


def per_call_microseconds(function, inputs: list) -> float:
    started = time.perf_counter()
    for item in inputs:
        function(item)
    return (time.perf_counter() - started) / len(inputs) * 1e6


def bench_user_agent(count: int = 2000) -> tuple[str, float, float]:
    """Our classifier against ``user_agents.parse`` on user agents never seen before."""
    ours = per_call_microseconds(classify, unique_android_agents(count))
    parser = per_call_microseconds(user_agents.parse, unique_android_agents(count))
    return (f"classify a new Android Weixin user agent, µs ({count} distinct; reference: user_agents.parse)", ours, parser)


def bench_card_ext_signing(count: int = 20000) -> tuple[str, float, float]:
    """Signing one card_ext against a bare sha1 of the same bytes, to show the overhead."""
    import hashlib

    inputs = [str(1700000000 + i) for i in range(count)]
    ours = per_call_microseconds(lambda ts: build_card_ext("ticket" * 8, "p" + "x" * 27, ts, make_nonce()), inputs)
    bare = per_call_microseconds(lambda ts: hashlib.sha1(("ticket" * 8 + ts).encode()).hexdigest(), inputs)
    return (f"build and sign one card_ext, µs ({count} calls; reference: one bare sha1)", ours, bare)


def bench_card_ext_endpoint(requests: int = 300) -> tuple[str, float, float]:
    """GET /cards/<c>/card-ext over HTTP against GET /healthz on the same server."""
    with tempfile.TemporaryDirectory() as folder, SandboxServer() as sandbox:
        card_id = sandbox.state.create_demo_card(DEFAULT_APPID) if hasattr(sandbox.state, "create_demo_card") else None
        if card_id is None:
            card_id = _create_card(sandbox)
        campaigns = Path(folder) / "campaigns.toml"
        campaigns.write_text(f'[campaigns.bench]\ncards = ["{card_id}"]\n', encoding="utf-8")
        settings = Settings.from_env(
            {
                "WXCARD_APPID": DEFAULT_APPID,
                "WXCARD_APPSECRET": DEFAULT_SECRET,
                "WXCARD_API_BASE": sandbox.base_url,
                "WXCARD_CAMPAIGNS": str(campaigns),
                "WXCARD_STORE": f"sqlite:///{folder}/bench.sqlite3",
                "WXCARD_SECRET_KEY": "benchmark-secret-key-0123456789",
                "WXCARD_PUBLIC_HOSTS": "127.0.0.1",
            }
        )
        with ThreadedServer(create_app(settings), name="backend") as backend, httpx.Client(base_url=backend.base_url) as http:
            http.get("/cards/bench/card-ext").raise_for_status()
            card_ext = _median_ms(http, "/cards/bench/card-ext", requests)
            health = _median_ms(http, "/healthz", requests)
    return (f"GET /cards/<campaign>/card-ext, median ms of {requests} (reference: GET /healthz)", card_ext, health)


def _create_card(sandbox: SandboxServer) -> str:
    import json

    from h5.client import WeixinClient
    from h5.context import ROOT
    from h5.store import open_store

    card = json.loads((ROOT / "examples" / "hotpot-groupon.json").read_text(encoding="utf-8"))["card"]

    async def create() -> str:
        with tempfile.TemporaryDirectory() as folder:
            store = open_store(f"sqlite:///{folder}/create.sqlite3")
            async with WeixinClient(DEFAULT_APPID, DEFAULT_SECRET, store, sandbox.base_url) as client:
                card_id = await client.create_card(card)
            await store.close()
            return card_id

    card_id = asyncio.run(create())
    httpx.post(f"{sandbox.base_url}/sandbox/cards/{card_id}/status", json={"status": "CARD_STATUS_VERIFY_OK"})
    return card_id


def _median_ms(http: httpx.Client, path: str, requests: int) -> float:
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        http.get(path).raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def bench_deposit_scan_memory(codes: int = 100_000) -> tuple[str, float, float]:
    """Peak memory of scanning a 100,000-code file for deposit against the file's size (KiB)."""
    from h5.deposit import scan_code_file

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "codes.txt"
        path.write_text("".join(f"{i:012d}\n" for i in range(codes)), encoding="utf-8")
        tracemalloc.start()
        code_file = scan_code_file(path)
        sum(len(batch) for batch in code_file.batches())
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return (f"scan and batch a {codes:,}-code deposit file, peak KiB (reference: file size, KiB)", peak / 1024, path.stat().st_size / 1024)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


# The highest acceptable ratio (ours / reference) of each measurement, in the order of ``main``.
TARGETS = (
    0.02,  # a new user agent must cost at most a fiftieth of user_agents.parse
    None,  # card_ext signing: recorded only; its cost is the nonce and the JSON, both needed
    2.0,  # card-ext over HTTP at most twice a bare /healthz round trip
    16.0,  # deposit scan memory stays within 16 times the file size
)


def main() -> int:
    rows = [bench_user_agent(), bench_card_ext_signing(), bench_card_ext_endpoint(), bench_deposit_scan_memory()]
    print(f"Command: `python -m benchmarks.run`  \nMachine: {machine()}  \nDate: {time.strftime('%Y-%m-%d')}\n")
    print("| measurement | ours | reference | ratio (ours / reference) | target ratio | met |")
    print("|---|---:|---:|---:|---:|---|")
    for (name, ours, reference), target in zip(rows, TARGETS):
        ratio = ours / reference
        verdict = ""
        if target is not None:
            verdict = "yes" if ratio <= target else "NO"
        print(f"| {name} | {ours:.2f} | {reference:.2f} | {ratio:.3f} | {'' if target is None else f'<= {target}'} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
