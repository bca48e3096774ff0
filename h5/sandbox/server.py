"""Run the sandbox as a real HTTP server in a background thread."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from h5.sandbox import DEFAULT_APPID, DEFAULT_SECRET
from h5.sandbox.app import create_sandbox_app
from h5.sandbox.state import SandboxState
from h5.serving import ThreadedServer


class SandboxServer:
    """The sandbox app served by uvicorn on ``host:port`` (``port=0`` picks a free port).

    ``state`` is the live ``SandboxState``; ``base_url`` is what a client uses as its
    Weixin API base, e.g. ``http://127.0.0.1:54321``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        appid: str = DEFAULT_APPID,
        secret: str = DEFAULT_SECRET,
        state: SandboxState | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if state is None:
            state = SandboxState(appid, secret, clock=clock) if clock else SandboxState(appid, secret)
        self.state = state
        self.appid = appid
        self._server = ThreadedServer(create_sandbox_app(state), host=host, port=port, name="sandbox")

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> "SandboxServer":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
