"""Run an ASGI app with uvicorn in a background thread, on a loopback port.

The demo and the tests use it to start the sandbox and the backend side by side in one
process. ``wxcard serve`` does not: it runs uvicorn in the foreground.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn

logger = logging.getLogger(__name__)


class ThreadedServer:
    """An ASGI app served by uvicorn in a daemon thread.

    ``port=0`` binds a free port; ``base_url`` gives the bound port after ``start``.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, name: str = "server") -> None:
        self.app = app
        self.host = host
        self.name = name
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit TCP_NODELAY. Without it, uvicorn's separate writes of
        # headers and body meet delayed ACKs and every keep-alive request waits about 40 ms.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"{name}:{self.port}", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self, timeout: float = 10.0) -> "ThreadedServer":
        """Start serving and wait until uvicorn reports it is ready."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start on {self.base_url} within {timeout} s")
            time.sleep(0.01)
        logger.info("%s started on %s", self.name, self.base_url)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()
        logger.info("%s stopped on %s", self.name, self.base_url)

    def __enter__(self) -> "ThreadedServer":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
