"""Running the app under uvicorn: in the foreground (the CLI) or in a thread (tests).

The listening socket is bound before uvicorn starts, so ``port=0`` picks a
free port that is known (and printable) before the first request, and
connections made during startup wait in the kernel's backlog.

`ConnectionLimits` bounds what connections may hold: their number, the wait
for a request head, and how long a shutdown waits for requests in flight. The
app bounds the rest itself (body size and read time, requests in flight:
`ServerConfig`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from dataclasses import dataclass
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from agentkit._errors import ConfigError, UserError

__all__ = ["ConnectionLimits", "ServerThread", "bind", "serve"]

_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ConnectionLimits:
    """Connection-level limits of the HTTP server, validated on construction.

    Attributes:
        max_connections: Open connections plus requests being served; past it,
            uvicorn answers 503 at once. Far above ``ServerConfig.max_queue``
            (64), so that overload meets the app's 429 first, and below the usual
            1024 open files, so that a connection flood meets the 503 first.
        keep_alive_s: How long a connection may take to send a whole request
            head, from its opening or from its previous response; an idle
            keep-alive connection is closed after as long.
        shutdown_timeout_s: On shutdown, how long requests in flight may still
            run before they are cancelled (their generations are closed).
    """

    max_connections: int = 512
    keep_alive_s: int = 5
    shutdown_timeout_s: int = 20

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ConfigError("max_connections", "must be at least 1")
        if self.keep_alive_s < 1:
            raise ConfigError("keep_alive_s", "must be at least 1 s")
        if self.shutdown_timeout_s < 0:
            raise ConfigError("shutdown_timeout_s", "must be at least 0 s")


class _H11Protocol(H11Protocol):
    """uvicorn's h11 protocol, whose keep-alive timeout also bounds the wait for a head.

    uvicorn arms its keep-alive timer only after a response, and any byte
    received disarms it: a connection that never completes a request head
    (one byte every few seconds) was held for ever, and counted against
    ``max_connections``. This timer runs from the connection's opening, and
    again from each response, until a request starts; it never closes a
    connection while a request is being served.
    """

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Accept the connection and start waiting for its first head."""
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the timer with the connection."""
        self._disarm_head_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        """Parse what arrived; a request that starts stops the head timer."""
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:
            self._disarm_head_timer()

    def on_response_complete(self) -> None:
        """After a response, wait for the next head (unless one is already in)."""
        super().on_response_complete()
        if self._waiting_for_head():
            self._arm_head_timer()

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.timeout_keep_alive, self._head_timeout)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._waiting_for_head():
            self.timeout_keep_alive_handler()


def is_loopback_address(host: str) -> bool:
    """Whether a bound address (``sock.getsockname()[0]``) is a loopback one."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


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


def _config(app: ASGIApp, log_level: str, limits: ConnectionLimits) -> uvicorn.Config:
    # No access log: a log line per request costs more than the 5 ms overhead budget allows.
    return uvicorn.Config(
        app,
        http=_H11Protocol,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=limits.keep_alive_s,
        timeout_graceful_shutdown=limits.shutdown_timeout_s,
    )


async def serve(
    app: ASGIApp,
    sock: socket.socket,
    *,
    log_level: str = "warning",
    limits: ConnectionLimits | None = None,
) -> None:
    """Serve ``app`` on a bound socket until interrupted (SIGINT/SIGTERM)."""
    config = _config(app, log_level, limits or ConnectionLimits())
    await uvicorn.Server(config).serve(sockets=[sock])


class ServerThread:
    """Runs an app under uvicorn in a background thread, on loopback.

    Example:
        >>> from agentkit import ScriptedModel
        >>> from agentkit.server import create_app
        >>> with ServerThread(create_app(ScriptedModel([]))) as srv:
        ...     srv.url.startswith("http://127.0.0.1:")
        True
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self._app = app
        self._sock = bind(host, port)
        self.host, self.port = self._sock.getsockname()[:2]
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        config = _config(self._wrap(), "warning", limits or ConnectionLimits())
        self._server = uvicorn.Server(config)
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
