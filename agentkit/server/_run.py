"""Running the app under uvicorn: in the foreground (the CLI) or in a thread (tests).

The listening socket is bound before uvicorn starts, so ``port=0`` picks a
free port that is known (and printable) before the first request, and
connections made during startup wait in the kernel's backlog.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentkit._errors import UserError

__all__ = ["ServerThread", "bind", "serve"]

_START_TIMEOUT_S = 30.0


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY on accepted
    # sockets only then, and without it Nagle + delayed ACK add ~40 ms per
    # keep-alive response (headers and body are two writes).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _config(app: ASGIApp, log_level: str) -> uvicorn.Config:
    # No access log: a log line per request costs more than the 5 ms overhead budget allows.
    return uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")


async def serve(app: ASGIApp, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Serve ``app`` on a bound socket until interrupted (SIGINT/SIGTERM)."""
    await uvicorn.Server(_config(app, log_level)).serve(sockets=[sock])


class ServerThread:
    """Runs an app under uvicorn in a background thread, on loopback.

    Example:
        >>> from agentkit import ScriptedModel
        >>> from agentkit.server import create_app
        >>> with ServerThread(create_app(ScriptedModel([]))) as srv:
        ...     srv.url.startswith("http://127.0.0.1:")
        True
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._sock = bind(host, port)
        self.host, self.port = self._sock.getsockname()[:2]
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server = uvicorn.Server(_config(self._wrap(), "warning"))
        self._thread = threading.Thread(target=self._run, name="agentkit-server", daemon=True)

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    def _wrap(self) -> ASGIApp:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "lifespan":
                return await self._app(scope, receive, send)

            self._loop = asyncio.get_running_loop()

            async def watch(message: Message) -> None:
                await send(message)
                if message["type"] == "lifespan.startup.complete":
                    self._ready.set()

            return await self._app(scope, receive, watch)

        return app

    def task_count(self) -> int:
        """Tasks alive on the server's event loop (a leak check for tests)."""
        if self._loop is None:
            return 0

        async def count() -> int:
            return len(asyncio.all_tasks()) - 1  # not this one

        return asyncio.run_coroutine_threadsafe(count(), self._loop).result(_START_TIMEOUT_S)

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self) -> ServerThread:
        """Start serving; returns once startup is complete."""
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            self.stop()
            raise UserError(f"server did not start within {_START_TIMEOUT_S:.0f} s")
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(_START_TIMEOUT_S)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
