"""``wxcard demo`` as a new user runs it: the printed walk-through from landing page to report."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

WEIXIN_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wxcard(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``wxcard`` in the demo folder, whose .env configures it, as the printed steps do."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WXCARD_")}
    return subprocess.run(
        [sys.executable, "-m", "h5.cli.main", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def demo(tmp_path):
    ports = {"--port": free_port(), "--sandbox-port": free_port(), "--merchant-port": free_port()}
    command = [sys.executable, "-m", "h5.cli.main", "demo", "--dir", str(tmp_path / "wxcard-demo")]
    for option, port in ports.items():
        command += [option, str(port)]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    output = []
    deadline = time.monotonic() + 60
    for line in process.stdout:
        output.append(line)
        if "Press Ctrl+C to stop." in line or time.monotonic() > deadline:
            break
    try:
        assert "Press Ctrl+C to stop." in "".join(output), "".join(output)
        yield {"output": "".join(output), "folder": tmp_path / "wxcard-demo", **ports}
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_demo_walkthrough(demo):
    folder = demo["folder"]
    backend = f"http://127.0.0.1:{demo['--port']}"
    sandbox = f"http://127.0.0.1:{demo['--sandbox-port']}"
    landing = f"{backend}/cards/hotpot?outer_str=ch_moments"
    assert landing in demo["output"]
    assert "res.wx.qq.com" in demo["output"]
    assert str(folder) in demo["output"]

    page = httpx.get(landing, headers={"User-Agent": WEIXIN_UA})
    assert page.status_code == 200
    assert 'data-client="weixin"' in page.text
    assert "132元双人火锅套餐" in page.text
    assert "微信餐厅" in page.text

    card_list = httpx.get(f"{backend}/cards/hotpot/card-ext", params={"outer_str": "ch_moments"}).json()
    added = httpx.post(f"{sandbox}/sandbox/client/add-card", params={"openid": "o_demo_user"}, json=card_list)
    assert added.status_code == 200, added.text
    encrypt_code = added.json()["card_list"][0]["code"]

    decrypted = wxcard(folder, "decrypt", encrypt_code)
    assert decrypted.returncode == 0, decrypted.stderr
    code = decrypted.stdout.splitlines()[0].strip()
    assert re.fullmatch(r"\d{12}", code)

    redirect = wxcard(folder, "sandbox", "--redirect-url", code, "--sandbox-url", sandbox)
    assert redirect.returncode == 0, redirect.stderr
    merchant_page = httpx.get(redirect.stdout.strip(), follow_redirects=True)
    assert merchant_page.status_code == 200
    assert 'data-state="handoff-verified"' in merchant_page.text
    assert code not in merchant_page.text

    consumed = wxcard(folder, "consume", code)
    assert consumed.returncode == 0, consumed.stderr

    deadline = time.monotonic() + 20
    while True:
        report = wxcard(folder, "report", "--json")
        rows = [json.loads(line) for line in report.stdout.splitlines()]
        if rows and rows[0]["consumed"] == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert rows == [
        {"outer_str": "ch_moments", "card_id": card_list["cardList"][0]["cardId"], "received": 1, "consumed": 1, "deleted": 0, "conversion_rate": 1.0}
    ]


def test_demo_rerun_starts_empty(tmp_path):
    """A second run in the same folder neither reuses the old sandbox's token nor reports old cards."""
    folder = tmp_path / "wxcard-demo"
    command = [sys.executable, "-m", "h5.cli.main", "demo", "--once", "--dir", str(folder)]
    for option in ("--port", "--sandbox-port", "--merchant-port"):
        command += [option, str(free_port())]

    first = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    (folder / "wxcard.sqlite3-marker").write_text("from the first run")

    command = command[:7] + ["--port", str(free_port()), "--sandbox-port", str(free_port()), "--merchant-port", str(free_port())]
    second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "errcode=40014" not in second.stderr
    assert "errcode=40001" not in second.stderr
    assert not (folder / "wxcard.sqlite3-marker").exists()
