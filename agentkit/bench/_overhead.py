"""What the HTTP layer costs: a 1-token completion over HTTP vs. the same call in process.

The target (issue 5) is at most 5 ms added at the median. Both paths are
sampled in alternating blocks, so that drift in machine load (the machine is shared)
hits both alike. The HTTP client is a bare keep-alive socket: what is measured
is the server (uvicorn, Starlette, validation, JSON), not a client library.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
from anyio.from_thread import start_blocking_portal
from starlette.types import ASGIApp, Message, Scope

from agentkit._doubles import FunctionModel
from agentkit._errors import ModelHTTPError
from agentkit._model import Model, SamplingSettings
from agentkit.bench.stats import percentile
from agentkit.server._app import create_app
from agentkit.server._backend import ModelTextBackend, TextBackend, TextRequest
from agentkit.server._run import ServerThread
from agentkit.server._state import ServerConfig

__all__ = ["OverheadResult", "measure_overhead"]

_PROMPT = "The quick brown fox"
_BLOCK = 20  # samples per path before switching to the other


@dataclass(frozen=True)
class OverheadResult:
    """Latency of one-token completions, over HTTP and in process.

    Attributes:
        samples: Requests measured on each path.
        http_p50_ms: Median over HTTP (``POST /v1/completions``, keep-alive client).
        inprocess_p50_ms: Median of the text backend's call in process.
        overhead_p50_ms: ``http_p50_ms - inprocess_p50_ms``.
        http_p99_ms: 99th percentile over HTTP.
        inprocess_p99_ms: 99th percentile in process.
        asgi_p50_ms: Median of the same request handed to the app directly (no
            socket, no uvicorn): the cost of our code alone, which is far less
            sensitive to the scheduling noise of a loaded machine than
            ``http_p50_ms`` (each HTTP round trip wakes two threads).
    """

    samples: int
    http_p50_ms: float
    inprocess_p50_ms: float
    overhead_p50_ms: float
    http_p99_ms: float
    inprocess_p99_ms: float
    asgi_p50_ms: float


async def _inprocess(backend: TextBackend, settings: SamplingSettings) -> float:
    start = time.perf_counter()
    events = backend.stream_text(TextRequest(_PROMPT, None, settings))
    async for _ in events:
        pass
    return (time.perf_counter() - start) * 1e3


class _KeepAliveClient:
    """A minimal blocking HTTP/1.1 client on one keep-alive connection.

    The server's overhead is what is measured, not the client's: a full async
    client (httpx) adds several milliseconds of its own per request on a
    loaded 2-core machine, which would swamp the number.
    """

    def __init__(self, host: str, port: int) -> None:
        self._sock = socket.create_connection((host, port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self._sock.sendall(head + body)
        while b"\r\n\r\n" not in self._buf:
            self._recv()
        header, _, self._buf = self._buf.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            int(v)
            for k, _, v in (ln.partition(":") for ln in lines[1:])
            if k.strip().lower() == "content-length"
        )
        while len(self._buf) < length:
            self._recv()
        payload, self._buf = self._buf[:length], self._buf[length:]
        return status, payload

    def _recv(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self._buf += chunk

    def close(self) -> None:
        self._sock.close()


async def _inprocess_block(backend: TextBackend, settings: SamplingSettings, n: int) -> list[float]:
    return [await _inprocess(backend, settings) for _ in range(n)]


def _over_http(client: _KeepAliveClient, body: bytes) -> float:
    start = time.perf_counter()
    status, payload = client.post("/v1/completions", body)
    elapsed = (time.perf_counter() - start) * 1e3
    if status != 200:
        raise ModelHTTPError(status, payload.decode(errors="replace"), backend="overhead")
    return elapsed


def _receiver(body: bytes) -> Callable[[], Awaitable[Message]]:
    """An ASGI ``receive``: the body, then a client that never leaves."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    never = anyio.Event()

    async def receive() -> Message:
        if pending:
            return pending.pop()
        await never.wait()
        return {"type": "http.disconnect"}

    return receive


async def _send(message: Message) -> None:
    del message


async def _asgi_block(app: ASGIApp, body: bytes, n: int) -> list[float]:
    """Call the app directly with a synthetic ASGI request, ``n`` times."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/completions",
        "raw_path": b"/v1/completions",
        "query_string": b"",
        "root_path": "",
        "server": ("127.0.0.1", 0),
        "client": ("127.0.0.1", 0),
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    out: list[float] = []
    for _ in range(n):
        receive = _receiver(body)
        start = time.perf_counter()
        await app(dict(scope), receive, _send)
        out.append((time.perf_counter() - start) * 1e3)
    return out


def measure_overhead(
    model: Model | None = None,
    *,
    text: TextBackend | None = None,
    samples: int = 200,
    warmup: int = 200,
) -> OverheadResult:
    """Measure the server's added latency on non-streaming 1-token completions.

    Args:
        model: The chat model behind the server; default: an instant double,
            so that the difference is the HTTP layer alone.
        text: The text backend (default: `ModelTextBackend` over ``model``);
            pass the engine's to measure against the real in-process call.
        samples: Requests per path.
        warmup: Unmeasured requests per path first (connections, caches).

    Returns:
        Medians and 99th percentiles of both paths, and their difference.
    """
    chat = model or FunctionModel(lambda call: "x", name="overhead")
    backend = text or ModelTextBackend(chat)
    app = create_app(chat, text=backend, config=ServerConfig(model_id="overhead"))
    settings = SamplingSettings(max_tokens=1)

    body = json.dumps(
        {"model": "overhead", "prompt": _PROMPT, "max_tokens": 1, "temperature": 0}
    ).encode()
    http_ms: list[float] = []
    local_ms: list[float] = []
    # Alternating blocks, not single samples: switching threads (and the GIL)
    # between every request slows the next HTTP sample by milliseconds, while
    # blocks still expose both paths to the same drift in machine load.
    with ServerThread(app) as srv, start_blocking_portal() as portal:
        client = _KeepAliveClient(srv.host, srv.port)
        try:
            for _ in range(warmup):
                _over_http(client, body)
            portal.call(_inprocess_block, backend, settings, warmup)
            asgi_ms = portal.call(_asgi_block, app, body, samples)
            done = 0
            while done < samples:
                n = min(_BLOCK, samples - done)
                http_ms.extend(_over_http(client, body) for _ in range(n))
                local_ms.extend(portal.call(_inprocess_block, backend, settings, n))
                done += n
        finally:
            client.close()
    http50, local50 = percentile(http_ms, 50), percentile(local_ms, 50)
    return OverheadResult(
        samples=samples,
        http_p50_ms=http50,
        inprocess_p50_ms=local50,
        overhead_p50_ms=http50 - local50,
        http_p99_ms=percentile(http_ms, 99),
        inprocess_p99_ms=percentile(local_ms, 99),
        asgi_p50_ms=percentile(asgi_ms, 50),
    )
