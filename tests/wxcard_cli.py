"""Helpers for tests that run ``wxcard`` subcommands as subprocesses against a sandbox server."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@dataclass
class Wxcard:
    """Runs ``python -m h5.cli.main`` with the settings of one sandbox and one SQLite store."""

    base_url: str
    store_path: Path
    cwd: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("WXCARD_", "LC_", "LANG"))}
        env.update(
            WXCARD_API_BASE=self.base_url,
            WXCARD_APPID=DEFAULT_APPID,
            WXCARD_APPSECRET=DEFAULT_SECRET,
            WXCARD_STORE=f"sqlite:///{self.store_path}",
            PYTHONPATH=str(REPO),
            LANG="C.UTF-8",
            PYTHONIOENCODING="utf-8",
        )
        env.update(extra)
        return env

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        # The working directory is a temporary one, so no .env file of the developer is read.
        return subprocess.run(
            [sys.executable, "-m", "h5.cli.main", *args],
            cwd=self.cwd,
            env=env or self.env(),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "h5.cli.main", *args],
            cwd=self.cwd,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )


@pytest.fixture
def sandbox_server() -> Iterator[SandboxServer]:
    """Return a sandbox on a free loopback port, fresh per test; import it into the test module."""
    with SandboxServer() as server:
        yield server


@pytest.fixture
def wxcard(sandbox_server: SandboxServer, tmp_path: Path) -> Wxcard:
    """Return the command runner on ``sandbox_server`` with a SQLite store in ``tmp_path``."""
    return Wxcard(sandbox_server.base_url, tmp_path / "store.sqlite3", tmp_path)


def recorded(base_url: str, path: str) -> list[dict[str, Any]]:
    """Return the requests the sandbox recorded for ``path``, each with its body as ``body`` bytes."""
    answer = httpx.get(f"{base_url}/sandbox/requests", params={"path": path}, trust_env=False)
    answer.raise_for_status()
    items = answer.json()
    for item in items:
        item["body"] = base64.b64decode(item["body_b64"])
    return items


def inject_fault(base_url: str, path: str, **fault: Any) -> None:
    answer = httpx.post(f"{base_url}/sandbox/faults", json={"path": path, **fault}, trust_env=False)
    answer.raise_for_status()


def clear_faults(base_url: str) -> None:
    httpx.delete(f"{base_url}/sandbox/faults", trust_env=False).raise_for_status()


def sandbox_post(base_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{base_url}{path}", json=body, trust_env=False)
    answer.raise_for_status()
    return answer.json()


def closed_port() -> int:
    """Return a loopback port that nothing listens on (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
