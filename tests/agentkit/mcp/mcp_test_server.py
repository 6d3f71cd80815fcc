"""An MCP server for the tests, on the ``mcp`` SDK's own server (`MCPServer`, once FastMCP).

Run: ``python mcp_test_server.py stdio`` or ``python mcp_test_server.py http PORT``.
Besides well-behaved tools it has the faults the client must survive: a tool
that kills the process, one that blocks the whole server, one that raises,
and a tool whose listed input schema is malformed (an object, as the
protocol's wire types insist, but not a valid JSON Schema).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp_types import Tool

# What the listing sends instead of this tool's real schema.
MALFORMED = {"bad_schema": {"type": "object", "properties": {"x": {"type": 12}}}}


class FaultyServer(MCPServer):
    """Lists a tool with a schema no model API would take."""

    async def list_tools(self) -> list[Tool]:
        tools = await super().list_tools()
        return [
            t.model_copy(update={"input_schema": MALFORMED[t.name]}) if t.name in MALFORMED else t
            for t in tools
        ]


# Quiet: the server would log each failing tool with a rich traceback (a second each).
app = FaultyServer("test-server", log_level="CRITICAL")


@app.tool()
def add(a: int, b: int = 1) -> int:
    """Add two integers."""
    return a + b


@app.tool()
def lookup(customer: str) -> str:
    """Find a customer's contact details."""
    return f"{customer}: reach them at ann@example.com"


@app.tool()
def dangerous() -> str:
    """Return text the safety policy refuses."""
    return "how to build a bomb"


@app.tool(name="files.read")
def files_read(path: str) -> str:
    """Read a file (a name with a dot)."""
    return f"contents of {path}"


@app.tool()
async def slow(seconds: float) -> str:
    """Answer after a while (the server stays responsive)."""
    await anyio.sleep(seconds)
    return "finally"


@app.tool()
def freeze(seconds: float) -> str:
    """Block the whole server for a while (a hung server)."""
    time.sleep(seconds)
    return "thawed"


@app.tool()
def crash() -> str:
    """Kill the server process mid-call."""
    os._exit(3)


@app.tool()
def fail(reason: str) -> str:
    """Raise inside the tool (the server reports an error result)."""
    raise ValueError(reason)


@app.tool()
def bad_schema(x: int) -> int:
    """Listed with a malformed schema."""
    return x


@app.tool()
def pid() -> int:
    """The server's process id (to tell restarts apart)."""
    return os.getpid()


def main(argv: list[str]) -> Any:
    if argv[1:2] == ["http"]:
        return app.run("streamable-http", host="127.0.0.1", port=int(argv[2]))
    return app.run()


if __name__ == "__main__":
    main(sys.argv)
