"""``wxcard deposit`` as a subprocess against the sandbox: batches, counts, resuming and stock."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest

from h5.client import WeixinClient
from h5.sandbox.server import SandboxServer
from h5.store.sqlite import SQLiteStore
from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from tests.wxcard_cli import EXAMPLES, Wxcard, inject_fault, recorded
from tests.wxcard_cli import sandbox_server, wxcard  # noqa: F401 - pytest fixtures used by name


@pytest.fixture
def card_id(wxcard: Wxcard, tmp_path: Path) -> str:
    """A GET_CUSTOM_CODE_MODE_DEPOSIT card created through ``wxcard create-card``."""
    data = json.loads((EXAMPLES / "hotpot-groupon.json").read_text(encoding="utf-8"))
    base_info = data["card"]["groupon"]["base_info"]
    base_info.update(use_custom_code=True, get_custom_code_mode="GET_CUSTOM_CODE_MODE_DEPOSIT", sku={"quantity": 0})
    path = tmp_path / "deposit-card.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = wxcard.run("create-card", str(path))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def write_codes(path: Path, codes: list[str]) -> Path:
    path.write_text("".join(f"{code}\n" for code in codes), encoding="utf-8")
    return path


def deposited_codes(wxcard: Wxcard) -> list[str]:
    """Every code of every card/code/deposit request the sandbox recorded, in order."""
    return [code for request in recorded(wxcard.base_url, "card/code/deposit") for code in json.loads(request["body"])["code"]]


def check_codes(wxcard: Wxcard, card_id: str, codes: list[str]) -> tuple[int, set[str]]:
    """Return the deposit count and the codes that card/code/checkcode does not know, over HTTP."""

    async def ask() -> tuple[int, set[str]]:
        store = SQLiteStore(wxcard.store_path)
        client = WeixinClient(DEFAULT_APPID, DEFAULT_SECRET, store, api_base=wxcard.base_url)
        try:
            missing: set[str] = set()
            for start in range(0, len(codes), 100):
                answer = await client.check_codes(card_id, codes[start : start + 100])
                missing.update(answer["not_exist_code"])
            return await client.get_deposit_count(card_id), missing
        finally:
            await client.aclose()
            await store.close()

    return asyncio.run(ask())


def test_deposit_dedupes_and_reports(wxcard: Wxcard, card_id: str, tmp_path: Path):
    good = [f"HP{index:06d}" for index in range(250)]
    lines = ["", *good[:120], "  HP000001  ", "", *good[120:], "HP000200", "码一二三", "X" * 21, "   "]
    path = tmp_path / "codes.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    failed = tmp_path / "failed.txt"

    result = wxcard.run("deposit", card_id, str(path), "--failed-file", str(failed))

    assert result.returncode == 0, result.stderr
    assert "codes.txt: 257 line(s), 252 unique code(s), 3 blank line(s) and 2 repeated code(s) dropped" in result.stderr
    assert "1 code(s) longer than 20 bytes were not sent" in result.stderr
    assert "succeeded 250, duplicate 0 (already in Weixin), failed 2" in result.stdout
    assert f"card/code/getdepositcount: 250 code(s) deposited for card {card_id}" in result.stdout
    assert failed.read_text(encoding="utf-8").splitlines() == ["X" * 21, "码一二三"]

    requests = recorded(wxcard.base_url, "card/code/deposit")
    assert [len(json.loads(request["body"])["code"]) for request in requests] == [100, 100, 51]
    assert deposited_codes(wxcard) == [*good, "码一二三"]
    assert '"码一二三"'.encode("utf-8") in requests[-1]["body"]
    assert check_codes(wxcard, card_id, good) == (250, set())


def test_deposit_reports_weixin_duplicates(wxcard: Wxcard, card_id: str, tmp_path: Path):
    first = write_codes(tmp_path / "first.txt", [f"A{index:05d}" for index in range(150)])
    second = write_codes(tmp_path / "second.txt", [f"A{index:05d}" for index in range(100, 180)])

    wxcard.run("deposit", card_id, str(first))
    result = wxcard.run("deposit", card_id, str(second), "--json")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["succeeded"] == 30
    assert summary["duplicate"] == 50
    assert summary["failed"] == 0
    assert summary["deposit_count"] == 180
    assert summary["failed_file"] is None


def test_deposit_resumes_after_weixin_error(wxcard: Wxcard, card_id: str, tmp_path: Path):
    codes = [f"R{index:06d}" for index in range(1050)]
    path = write_codes(tmp_path / "codes.txt", codes)
    # Faults on one path are used oldest first: five slowed batches pass, the sixth gets 45009.
    inject_fault(wxcard.base_url, "card/code/deposit", delay=0.001, count=5)
    inject_fault(wxcard.base_url, "card/code/deposit", errcode=45009, errmsg="reach max api daily quota limit")

    stopped = wxcard.run("deposit", card_id, str(path))
    sent_first = len(recorded(wxcard.base_url, "card/code/deposit"))
    resumed = wxcard.run("deposit", card_id, str(path), "--json")

    assert stopped.returncode == 1
    assert "stopped after 5 of 11 batch(es); rerun the same command to resume" in stopped.stderr
    assert "errcode 45009: daily API quota reached (reach max api daily quota limit" in stopped.stderr
    assert "hint: the daily quota is reached" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert sent_first == 6

    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["batches"] == 11
    assert summary["batches_skipped"] == 5
    assert summary["succeeded"] == 1050
    assert summary["duplicate"] == 0
    assert len(recorded(wxcard.base_url, "card/code/deposit")) == 6 + 6

    # The failed sixth batch was sent twice (once rejected), every other batch once.
    sent = deposited_codes(wxcard)
    assert sorted(set(sent)) == codes
    assert sent.count(codes[0]) == 1
    assert sent.count(codes[500]) == 2
    assert check_codes(wxcard, card_id, codes) == (1050, set())


def test_deposit_resumes_after_kill(wxcard: Wxcard, card_id: str, tmp_path: Path):
    codes = [f"K{index:06d}" for index in range(1200)]
    path = write_codes(tmp_path / "codes.txt", codes)
    # Slow every batch down so the process is surely killed halfway.
    inject_fault(wxcard.base_url, "card/code/deposit", delay=0.3, count=12)

    process = wxcard.popen("deposit", card_id, str(path))
    deadline = time.monotonic() + 60
    while len(recorded(wxcard.base_url, "card/code/deposit")) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    sent_before_kill = len(recorded(wxcard.base_url, "card/code/deposit"))

    resumed = wxcard.run("deposit", card_id, str(path), "--json")

    assert process.returncode == -signal.SIGKILL
    assert 4 <= sent_before_kill < 12
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["batches_skipped"] >= 3
    assert summary["succeeded"] + summary["duplicate"] == 1200
    assert summary["failed"] == 0
    sent_after = len(recorded(wxcard.base_url, "card/code/deposit")) - sent_before_kill
    assert sent_after == 12 - summary["batches_skipped"]
    assert check_codes(wxcard, card_id, codes) == (1200, set())


def test_deposit_rerun_sends_nothing_and_raises_stock_once(wxcard: Wxcard, card_id: str, sandbox_server: SandboxServer, tmp_path: Path):
    path = write_codes(tmp_path / "codes.txt", [f"S{index:04d}" for index in range(230)])

    first = wxcard.run("deposit", card_id, str(path), "--modify-stock")
    sent_first = len(recorded(wxcard.base_url, "card/code/deposit"))
    second = wxcard.run("deposit", card_id, str(path), "--modify-stock")

    assert first.returncode == 0, first.stderr
    assert "stock raised by 230" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "3 of 3 batch(es) had succeeded in an earlier run and were not sent again" in second.stderr
    assert "stock was already raised by 230 for this file; not raised again" in second.stdout
    assert "succeeded 230, duplicate 0" in second.stdout
    assert len(recorded(wxcard.base_url, "card/code/deposit")) == sent_first == 3
    [stock_request] = recorded(wxcard.base_url, "card/modifystock")
    assert json.loads(stock_request["body"]) == {"card_id": card_id, "increase_stock_value": 230}
    assert sandbox_server.state.cards[card_id].quantity == 230


def test_deposit_restart_sends_again(wxcard: Wxcard, card_id: str, tmp_path: Path):
    path = write_codes(tmp_path / "codes.txt", [f"T{index:04d}" for index in range(150)])

    wxcard.run("deposit", card_id, str(path))
    restarted = wxcard.run("deposit", card_id, str(path), "--restart")

    assert restarted.returncode == 0, restarted.stderr
    assert "succeeded 0, duplicate 150 (already in Weixin), failed 0" in restarted.stdout
    assert len(recorded(wxcard.base_url, "card/code/deposit")) == 4


def test_deposit_in_chinese(wxcard: Wxcard, card_id: str, tmp_path: Path):
    path = write_codes(tmp_path / "codes.txt", ["C0001", "C0002", "C0001"])

    result = wxcard.run("deposit", card_id, str(path), "--lang", "zh")

    assert result.returncode == 0, result.stderr
    assert "共 3 行，2 个不重复的 code，去掉 0 个空行和 1 个重复 code" in result.stderr
    assert "成功 2 个，重复 0 个（微信中已存在），失败 0 个" in result.stdout


def test_deposit_unknown_card(wxcard: Wxcard, tmp_path: Path):
    path = write_codes(tmp_path / "codes.txt", ["C0001"])

    result = wxcard.run("deposit", "pNoSuchCard000000000000000000", str(path))

    assert result.returncode == 1
    assert "stopped after 0 of 1 batch(es)" in result.stderr
    assert "errcode 40073: invalid card_id" in result.stderr


def test_deposit_missing_file(wxcard: Wxcard, tmp_path: Path):
    result = wxcard.run("deposit", "pAny", str(tmp_path / "absent.txt"))

    assert result.returncode == 2
    assert "absent.txt" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_deposit_100k_codes(wxcard: Wxcard, card_id: str, sandbox_server: SandboxServer, tmp_path: Path):
    codes = [f"{index:012d}" for index in range(100_000)]
    path = write_codes(tmp_path / "codes.txt", codes)

    result = wxcard.run("deposit", card_id, str(path), "--modify-stock", "--json", timeout=900)

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["batches"] == 1000
    assert summary["succeeded"] == 100_000
    assert summary["deposit_count"] == 100_000
    assert summary["stock_increase"] == 100_000
    assert len(recorded(wxcard.base_url, "card/code/deposit")) == 1000
    card = sandbox_server.state.cards[card_id]
    assert list(card.deposited) == codes
    assert card.quantity == 100_000
