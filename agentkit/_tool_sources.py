"""Tools that arrive at run time (an MCP server's), merged into the agent's registry.

`Agent.mcp_servers` holds `ToolSource` s. Before the model stage, each turn
asks every source for its tools (a cached list, after the first time) and
brings the agent's `ToolRegistry` in line: new tools are registered, tools a
source no longer lists are removed. From there they are ordinary tools. A
source that fails or is not ready within its slice leaves its tools out of
this turn (or keeps the ones it listed before), with a reason and a log line;
the turn goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import anyio
import structlog

from agentkit._budget import Deadline
from tools import Tool, ToolDefinitionError, ToolRegistry

__all__ = ["ToolSource", "gather_tools"]

_log = structlog.get_logger("agentkit")


@runtime_checkable
class ToolSource(Protocol):
    """A source of tools known only at run time, such as `agentkit.mcp.MCPServer`.

    Each tool it lists carries the source as its ``source`` attribute, so that a
    registry can tell whose tools it holds.
    """

    name: str

    async def list_tools(self) -> Sequence[Tool]:
        """The source's current tools (may connect; a cached list is expected)."""
        ...


def _merge(registry: ToolRegistry, source: ToolSource, tools: Sequence[Tool]) -> None:
    """Make the registry hold exactly ``tools`` of ``source`` (other tools untouched)."""
    held = {t.name: t for t in registry if getattr(t, "source", None) is source}
    wanted = {t.name: t for t in tools}
    for name, tool in held.items():
        if wanted.get(name) is not tool:
            registry.unregister(name)
    for name, tool in wanted.items():
        if held.get(name) is tool:
            continue
        try:
            registry.register(tool)
        except ToolDefinitionError:  # a local tool, or another source's, has the name
            _log.warning("source_tool_name_taken", source=source.name, tool=name)


async def _one(registry: ToolRegistry, source: ToolSource, until: float, notes: list[str]) -> None:
    tools: Sequence[Tool] | None = None
    with Deadline.scope(until):
        try:
            tools = await source.list_tools()
        except Exception as exc:
            _log.warning("tool_source_failed", source=source.name, error=type(exc).__name__)
            notes.append(f"tools of {source.name!r} unavailable ({type(exc).__name__})")
            return
    if tools is None:
        _log.info("tool_source_not_ready", source=source.name)
        notes.append(f"tools of {source.name!r} not ready in time")
        return
    _merge(registry, source, tools)


async def gather_tools(
    registry: ToolRegistry, sources: Sequence[ToolSource], until: float
) -> list[str]:
    """Bring ``registry`` in line with every source, concurrently, by ``until``.

    Args:
        registry: The agent's registry.
        sources: The agent's tool sources.
        until: Absolute ``time.monotonic()`` deadline for the whole step.

    Returns:
        Reasons to note on the turn, one per source left out.
    """
    notes: list[str] = []
    async with anyio.create_task_group() as group:
        for source in sources:
            group.start_soon(_one, registry, source, until, notes)
    return notes
