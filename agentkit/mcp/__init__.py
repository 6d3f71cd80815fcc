"""MCP tools for agents: `Agent(mcp_servers=[...])` on the official ``mcp`` SDK.

A server's tools join the agent's `tools.ToolRegistry` with their JSON schemas
and run like local tools: the registry's timeouts and typed results, the
safety filter's check of each result, the turn's tool loop. Connections open
on first need and stay open across turns (and across `Runner.run_sync` calls);
close them with ``async with`` or `MCPServer.aclose`. A server that crashes,
hangs or sends a malformed schema costs a typed tool result and a log line,
never the turn.

Needs the optional extra: ``pip install 'agentkit[mcp]'``.

Example:
    ``async with MCPServerStdio("python", ["files_server.py"]) as files:``
    ``    agent = Agent(fast=model, mcp_servers=[files])``
    ``    result = await Runner.run(agent, "What is in notes.txt?")``
"""

try:
    from mcp import Client as _Client  # the 2.x API this package is built on
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "agentkit.mcp needs the optional 'mcp' package (2.3 or later): pip install 'agentkit[mcp]'"
    ) from exc

from agentkit.mcp._server import MCPServer, MCPServerStdio, MCPServerStreamableHttp
from agentkit.mcp._tool import MCPTool

del _Client

__all__ = ["MCPServer", "MCPServerStdio", "MCPServerStreamableHttp", "MCPTool"]
