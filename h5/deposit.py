"""Import custom codes into a ``GET_CUSTOM_CODE_MODE_DEPOSIT`` card, resumably.

A code file has one code per line. Lines are stripped, blank lines dropped, and repeated
codes dropped keeping the first, so the same file always yields the same batches of at
most 100 codes. That is the ``card/code/deposit`` limit, and Weixin rejects more with 40109. The result of
each batch is stored under the card_id and the SHA-256 of the file, so a rerun after an
interruption skips the batches that succeeded, and a rerun of a finished file sends
nothing. A batch interrupted after Weixin accepted it but before its result was stored
is sent again; Weixin then reports its codes as ``duplicate_code``, never twice.

The file is read twice, streaming, and only the set of codes seen so far is kept in
memory (about 100 bytes per unique code).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, TextIO

from h5.client import WeixinClient
from h5.store import Store

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
# Codes are string(20) in card/code/consume and card/code/get, so a longer one could never be redeemed.
MAX_CODE_BYTES = 20
PROGRESS_TTL = 30 * 24 * 3600


@dataclass
class CodeFile:
    """Counts of a code file from the first pass; the batches come from ``batches()``."""

    path: Path
    digest: str
    lines: int = 0
    blank: int = 0
    local_duplicates: int = 0
    unique: int = 0
    too_long: list[str] = field(default_factory=list)

    @property
    def sendable(self) -> int:
        return self.unique - len(self.too_long)

    @property
    def batch_count(self) -> int:
        return -(-self.sendable // BATCH_SIZE)

    def batches(self) -> Iterator[list[str]]:
        """Yield the codes to send in batches of at most ``BATCH_SIZE``, in file order."""
        batch: list[str] = []
        for code in _unique_codes(self.path):
            if len(code.encode("utf-8")) > MAX_CODE_BYTES:
                continue
            batch.append(code)
            if len(batch) == BATCH_SIZE:
                yield batch
                batch = []
        if batch:
            yield batch


def scan_code_file(path: Path) -> CodeFile:
    """Read ``path`` once for its SHA-256 and its counts of lines, blanks, repeats and long codes."""
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 20), b""):
            digest.update(chunk)
    scanned = CodeFile(path=path, digest=digest.hexdigest())

    seen: set[str] = set()
    with _open_codes(path) as lines:
        for line in lines:
            scanned.lines += 1
            code = line.strip()
            if not code:
                scanned.blank += 1
            elif code in seen:
                scanned.local_duplicates += 1
            else:
                seen.add(code)
                scanned.unique += 1
                if len(code.encode("utf-8")) > MAX_CODE_BYTES:
                    scanned.too_long.append(code)
    return scanned


def _open_codes(path: Path) -> TextIO:
    # utf-8-sig drops a byte-order mark that Windows editors put before the first code.
    return path.open("r", encoding="utf-8-sig", newline=None)


def _unique_codes(path: Path) -> Iterator[str]:
    seen: set[str] = set()
    with _open_codes(path) as lines:
        for line in lines:
            code = line.strip()
            if code and code not in seen:
                seen.add(code)
                yield code


@dataclass(frozen=True)
class BatchResult:
    """The outcome of one batch: counts of accepted and already deposited codes, and the failed codes."""

    succeeded: int
    duplicate: int
    failed: list[str]

    def to_json(self) -> str:
        return json.dumps({"succeeded": self.succeeded, "duplicate": self.duplicate, "failed": self.failed}, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> "BatchResult":
        data = json.loads(raw)
        return cls(int(data["succeeded"]), int(data["duplicate"]), list(data["failed"]))


class DepositProgress:
    """The stored results of the batches of one file for one card."""

    def __init__(self, store: Store, appid: str, card_id: str, digest: str) -> None:
        self.store = store
        self.prefix = f"deposit:{appid}:{card_id}:{digest}"

    async def batch(self, index: int) -> BatchResult | None:
        raw = await self.store.get(f"{self.prefix}:batch:{index}")
        return None if raw is None else BatchResult.from_json(raw)

    async def save_batch(self, index: int, result: BatchResult) -> None:
        await self.store.set(f"{self.prefix}:batch:{index}", result.to_json(), ttl=PROGRESS_TTL)

    async def stock_raised(self) -> int | None:
        """Return by how much the stock was raised for this file, or None if it was not."""
        raw = await self.store.get(f"{self.prefix}:stock")
        return None if raw is None else int(raw)

    async def save_stock_raised(self, increase: int) -> None:
        await self.store.set(f"{self.prefix}:stock", str(increase), ttl=PROGRESS_TTL)

    async def forget(self, batch_count: int) -> None:
        """Drop every stored result of this file, so the next run sends all batches again."""
        for index in range(batch_count):
            await self.store.delete(f"{self.prefix}:batch:{index}")
        await self.store.delete(f"{self.prefix}:stock")


@dataclass
class DepositRun:
    """Counts of one deposit run, updated batch by batch so they are right even when it stops early."""

    batch_count: int
    batches_done: int = 0
    batches_skipped: int = 0
    succeeded: int = 0
    duplicate: int = 0
    failed: int = 0

    def add(self, result: BatchResult) -> None:
        self.batches_done += 1
        self.succeeded += result.succeeded
        self.duplicate += result.duplicate
        self.failed += len(result.failed)


class FailedCodeWriter:
    """Writes failed codes to a file, one a line, creating it only when the first one arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: TextIO | None = None

    def write(self, codes: list[str]) -> None:
        if not codes:
            return
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8")
        self._file.writelines(f"{code}\n" for code in codes)
        self.count += len(codes)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


async def deposit_batches(
    client: WeixinClient,
    card_id: str,
    code_file: CodeFile,
    progress: DepositProgress,
    run: DepositRun,
    failed_writer: FailedCodeWriter,
    on_batch: Callable[[int], None] = lambda size: None,
) -> None:
    """Send every batch of ``code_file`` that has no stored result, and store each result.

    ``run`` and ``failed_writer`` receive the results of skipped and sent batches alike.
    ``on_batch(size)`` is called after each batch, for a progress bar. A Weixin or
    network error propagates at once; the batches before it keep their stored results.
    """
    failed_writer.write(code_file.too_long)
    run.failed += len(code_file.too_long)

    for index, codes in enumerate(code_file.batches()):
        result = await progress.batch(index)
        if result is not None:
            run.batches_skipped += 1
        else:
            result = await _send_batch(client, card_id, index, codes)
            await progress.save_batch(index, result)
        run.add(result)
        failed_writer.write(result.failed)
        on_batch(len(codes))


async def _send_batch(client: WeixinClient, card_id: str, index: int, codes: list[str]) -> BatchResult:
    answer = await client.deposit_codes(card_id, codes)
    succeeded = set(answer.succ_code)
    duplicate = set(answer.duplicate_code)
    # A code that Weixin lists nowhere was not deposited, so it counts as failed with fail_code.
    failed = [code for code in codes if code not in succeeded and code not in duplicate]
    logger.debug("deposit batch %d of card_id=%s: %d succeeded, %d duplicate, %d failed", index, card_id, len(succeeded), len(duplicate), len(failed))
    return BatchResult(succeeded=len(succeeded), duplicate=len(duplicate), failed=failed)


async def raise_stock_once(client: WeixinClient, card_id: str, progress: DepositProgress, increase: int) -> tuple[int, bool]:
    """Raise the stock by ``increase`` unless it was already raised for this file.

    Return the increase and whether this call made it. The stock goes up by the number of
    codes of this file that Weixin accepted, so it matches the new codes available to
    issue. A marker in the store keeps a rerun from raising it twice.
    """
    already = await progress.stock_raised()
    if already is not None:
        return already, False
    if increase > 0:
        await client.modify_stock(card_id, increase=increase)
    await progress.save_stock_raised(increase)
    logger.info("raised the stock of card_id=%s by %d", card_id, increase)
    return increase, True
