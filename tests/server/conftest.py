"""Fixtures: the server under uvicorn on loopback, backed by agentkit's test doubles."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from starlette.applications import Starlette

from agentkit.server import ServerThread


@pytest.fixture
def serve() -> Iterator[Callable[[Starlette], ServerThread]]:
    """Start apps on 127.0.0.1:free-port in background threads; stop them after the test."""
    started: list[ServerThread] = []

    def start(app: Starlette) -> ServerThread:
        srv = ServerThread(app).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
