"""Connection-level limits: slow heads and bodies, too many connections, a stuck shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from _server_doubles import TrackedModel, wait_until
from starlette.applications import Starlette

from agentkit import FunctionModel, ScriptedModel
from agentkit.errors import ConfigError
from agentkit.server import ConnectionLimits, ServerConfig, ServerThread, create_app
from agentkit.testing import ModelCall

Serve = Callable[[Starlette], ServerThread]
CHAT = "/v1/chat/completions"
BODY = b'{"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}'


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (reading and dropping any reply)."""
    sock.settimeout(0.2)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True
    return False


def test_a_connection_that_sends_no_request_is_closed() -> None:
    app = create_app(ScriptedModel([]))
    with ServerThread(app, limits=ConnectionLimits(keep_alive_s=1)) as srv:
        silent = socket.create_connection((srv.host, srv.port))
        assert _closed_within(silent, 8.0)  # 1 s, with room for a loaded machine
        silent.close()


def test_a_request_head_sent_a_byte_at_a_time_is_cut() -> None:
    app = create_app(ScriptedModel([]))
    with ServerThread(app, limits=ConnectionLimits(keep_alive_s=1)) as srv:
        slow = socket.create_connection((srv.host, srv.port))
        slow.settimeout(0.2)
        head = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * 100
        start, closed = time.monotonic(), False
        for byte in head:  # one byte every 0.1 s: each one used to re-arm the timer
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.1)
            if time.monotonic() - start > 6:
                break
        closed = closed or _closed_within(slow, 1.0)
        slow.close()
        assert closed and time.monotonic() - start < 6


def test_keep_alive_connections_are_still_reused() -> None:
    app = create_app(ScriptedModel(["a", "b"]))
    with ServerThread(app, limits=ConnectionLimits(keep_alive_s=2)) as srv, httpx.Client() as c:
        first = c.post(srv.url + CHAT, content=BODY, headers={"Content-Type": "application/json"})
        time.sleep(0.5)
        second = c.post(srv.url + CHAT, content=BODY, headers={"Content-Type": "application/json"})
        assert (first.status_code, second.status_code) == (200, 200)
        assert first.extensions["network_stream"] is second.extensions["network_stream"]


def test_a_slow_generation_outlives_the_keep_alive_timeout() -> None:
    model = FunctionModel(lambda call: "done", name="scripted", delay_s=2.5)
    with ServerThread(create_app(model), limits=ConnectionLimits(keep_alive_s=1)) as srv:
        resp = httpx.post(
            srv.url + CHAT, content=BODY, headers={"Content-Type": "application/json"}, timeout=10
        )
        assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"]


def test_a_body_that_stalls_gets_408(serve: Serve) -> None:
    srv = serve(create_app(ScriptedModel([]), config=ServerConfig(body_timeout_s=0.5)))
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model"'
        )
        start = time.monotonic()
        reply = b""
        while chunk := sock.recv(4096):  # the server closes the connection after a 408
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert b'"code":"timeout"' in reply
    assert time.monotonic() - start < 4


def test_connections_over_the_limit_get_503() -> None:
    app = create_app(ScriptedModel(["ok"]))
    limits = ConnectionLimits(max_connections=3, keep_alive_s=30)
    with ServerThread(app, limits=limits) as srv:
        idle = [socket.create_connection((srv.host, srv.port)) for _ in range(3)]
        try:
            time.sleep(0.2)
            assert httpx.get(srv.url + "/health").status_code == 503
        finally:
            for sock in idle:
                sock.close()
        assert wait_until(lambda: httpx.get(srv.url + "/health").status_code == 200)


def test_shutdown_cuts_a_stream_that_would_never_end() -> None:
    async def forever(call: ModelCall) -> str:
        await asyncio.sleep(3600)
        return "never"

    model = TrackedModel(FunctionModel(forever, name="scripted"))
    srv = ServerThread(create_app(model), limits=ConnectionLimits(shutdown_timeout_s=1)).start()
    body = b'{"model": "scripted", "stream": true, "messages": [{"role": "user", "content": "x"}]}'

    def client() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(
                srv.url + CHAT,
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=60,
            )

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    assert wait_until(lambda: model.open == 1)
    start = time.monotonic()
    srv.stop()
    assert time.monotonic() - start < 8
    assert model.open == 0 and model.closed == 1


@pytest.mark.parametrize(
    "kwargs",
    [{"max_connections": 0}, {"keep_alive_s": 0}, {"shutdown_timeout_s": -1}],
)
def test_limits_are_validated(kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        ConnectionLimits(**kwargs)
