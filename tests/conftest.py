"""Shared pytest fixtures. Other modules append their own fixtures in separate sections."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


# -- sandbox ---------------------------------------------------------------------------------

from h5.sandbox.server import SandboxServer  # noqa: E402


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A started sandbox on a free loopback port, with the default appid; fresh state per test."""
    server = SandboxServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
