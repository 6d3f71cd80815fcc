"""Tool sources (`Agent.mcp_servers`): their tools merged into the agent's registry per turn.

A fake `ToolSource` stands in for an MCP server: this is the agent's side of
the seam, with no ``mcp`` package needed (the real servers are in tests/agentkit/mcp).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import anyio
from structlog.testing import capture_logs

from agentkit import ScriptedModel, ToolCall
from agentkit._agent import Agent
from agentkit._runner import Runner
from agentkit._tool_sources import ToolSource, gather_tools
from tools import Tool, ToolRegistry, tool


class FakeSource:
    """Lists what ``tools`` holds (tagging each as its own); can fail or be slow."""

    def __init__(self, name: str, *tools: Tool, delay_s: float = 0.0, error: bool = False) -> None:
        self.name, self.delay_s, self.error = name, delay_s, error
        self.tools: list[Tool] = []
        self.set(*tools)

    def set(self, *tools: Tool) -> None:
        for item in tools:
            item.source = self  # type: ignore[attr-defined]
        self.tools = list(tools)

    async def list_tools(self) -> Sequence[Tool]:
        await anyio.sleep(self.delay_s)
        if self.error:
            raise RuntimeError("down")
        return list(self.tools)


def make(name: str, reply: str) -> Tool:
    def fn() -> str:
        return reply

    return Tool.from_function(fn, name=name, description=f"Says {reply}.")


def gather(registry: ToolRegistry, *sources: ToolSource, budget_s: float = 1.0) -> list[str]:
    return anyio.run(gather_tools, registry, list(sources), time.monotonic() + budget_s)


@tool
def local() -> str:
    """A local tool."""
    return "local"


def test_a_sources_tools_join_and_leave_the_registry() -> None:
    registry = ToolRegistry([local])
    one, two = make("one", "1"), make("two", "2")
    source = FakeSource("s", one, two)
    assert gather(registry, source) == []
    assert registry.names == ["local", "one", "two"]
    three = make("three", "3")
    source.set(two, three)  # `one` is gone, `three` is new, `two` the same object
    gather(registry, source)
    assert registry.names == ["local", "two", "three"] and registry.get("two") is two
    new_two = make("two", "2b")
    source.set(new_two, three)  # a refreshed listing: a new object under an old name
    gather(registry, source)
    assert registry.get("two") is new_two and registry.names.count("two") == 1


def test_a_name_already_taken_stays_with_its_owner() -> None:
    registry = ToolRegistry([local])
    first, second = FakeSource("a", make("x", "from a")), FakeSource("b", make("x", "from b"))
    with capture_logs() as logs:
        gather(registry, first)
        gather(registry, FakeSource("c", make("local", "not local")), second)
    assert registry.get("local") is local
    owner = registry.get("x")
    assert owner is not None and getattr(owner, "source", None) is first
    taken = sorted(e["tool"] for e in logs if e["event"] == "source_tool_name_taken")
    assert taken == ["local", "x"]


def test_a_failing_or_slow_source_is_a_reason_and_the_others_still_join() -> None:
    registry = ToolRegistry()
    start = time.monotonic()
    notes = gather(
        registry,
        FakeSource("down", make("d", "d"), error=True),
        FakeSource("slow", make("s", "s"), delay_s=5.0),
        FakeSource("fine", make("f", "f")),
        budget_s=0.2,
    )
    assert time.monotonic() - start < 1.0
    assert sorted(notes) == [
        "tools of 'down' unavailable (RuntimeError)",
        "tools of 'slow' not ready in time",
    ]
    assert registry.names == ["f"]


def test_an_agent_offers_and_runs_a_sources_tools() -> None:
    source = FakeSource("s", make("ping", "pong"))
    assert isinstance(source, ToolSource)
    model = ScriptedModel([ToolCall.of("c", "ping"), "it said pong"])
    agent = Agent(fast=model, tools=[local], mcp_servers=[source])
    result = Runner.run_sync(agent, "ping it")
    assert (result.outcome, result.text) == ("ok", "it said pong")
    offered = [schema["function"]["name"] for schema in model.calls[0].tools]
    assert offered == ["local", "ping"]
    assert model.calls[1].messages[-1].content == "pong"
