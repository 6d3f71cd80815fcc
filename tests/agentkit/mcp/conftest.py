"""Real MCP servers for the agentkit.mcp tests: the test server over stdio and over HTTP.

Shared by the package's tests where a test does not break them: a stdio server, connected once,
and HTTP servers on 127.0.0.1 (free ports), killed at teardown. A server a test
crashes is restarted by the client itself (stdio) or is its own (HTTP).
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

if TYPE_CHECKING:
    from agentkit.mcp import MCPServer, MCPServerStdio, MCPServerStreamableHttp

# Without the ``mcp`` extra the modules that need it are not collected (nothing here
# imports agentkit.mcp before a fixture runs); test_mcp_extra.py says so, as a skip.
if importlib.util.find_spec("mcp") is None:
    collect_ignore_glob = ["test_mcp_tools.py", "test_mcp_lifecycle.py", "test_mcp_units.py"]

SCRIPT = Path(__file__).with_name("mcp_test_server.py")


def stdio_server(**options: object) -> MCPServerStdio:
    """A new, unconnected client of a new test server process over stdio."""
    from agentkit.mcp import MCPServerStdio

    return MCPServerStdio(sys.executable, [str(SCRIPT), "stdio"], **options)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(proc: subprocess.Popen[bytes], port: int, timeout_s: float = 30.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the MCP test server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("the MCP test server did not listen in time")


@pytest.fixture(scope="session")
def http_urls() -> Iterator[list[str]]:
    """Two HTTP test servers (started together): a shared one and one a test may crash."""
    ports = [_free_port(), _free_port()]
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), "http", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        for proc, port in zip(procs, ports, strict=True):
            _wait_listening(proc, port)
        yield [f"http://127.0.0.1:{port}/mcp" for port in ports]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def shared_stdio() -> Iterator[MCPServerStdio]:
    """One stdio server for these tests, connected before the first test."""
    server = stdio_server(name="stdio")
    anyio.run(server.connect)
    yield server
    server.close()


@pytest.fixture(scope="session")
def shared_http(http_urls: list[str]) -> Iterator[MCPServerStreamableHttp]:
    """A client of the shared HTTP server, connected before the first test."""
    from agentkit.mcp import MCPServerStreamableHttp

    server = MCPServerStreamableHttp(http_urls[0], name="http")
    anyio.run(server.connect)
    yield server
    server.close()


@pytest.fixture(params=["stdio", "http"])
def server(
    request: pytest.FixtureRequest,
    shared_stdio: MCPServerStdio,
    shared_http: MCPServerStreamableHttp,
) -> MCPServer:
    """Each shared, connected server in turn: what holds for one transport holds for both."""
    return shared_stdio if request.param == "stdio" else shared_http
