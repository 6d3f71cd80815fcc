"""MCP tools in a turn, over stdio and streamable HTTP, exactly like local tools.

Each test runs against both transports of the real test server (the ``mcp``
SDK's own server): listing with schemas, calls through the agent's registry,
the safety check on results, typed results for bad arguments, tool errors,
timeouts, a hung server and a malformed schema. The turn always goes on.
"""

from __future__ import annotations

from typing import Any

import anyio
from structlog.testing import capture_logs

from agentkit import ScriptedModel, ToolCall, TurnResult
from agentkit._agent import Agent
from agentkit._budget import BudgetPolicy
from agentkit._runner import Runner
from agentkit._turn import WITHHELD
from agentkit._turn_events import ResultEvent, ToolEndEvent
from agentkit.mcp import MCPServer
from tests.agentkit._loop_filters import KeywordFilter
from tools import ToolResult, tool


@tool
def shout(text: str) -> str:
    """Upper-case a text (a local tool next to the server's)."""
    return text.upper()


def run_turn(agent: Agent, text: str = "go") -> tuple[TurnResult, list[ToolResult]]:
    """One turn through `Runner.stream`: its result and every tool result, in order."""

    async def main() -> tuple[TurnResult, list[ToolResult]]:
        results: list[ToolResult] = []
        final: TurnResult | None = None
        async for event in Runner.stream(agent, text):
            if isinstance(event, ToolEndEvent):
                results.append(event.result)
            elif isinstance(event, ResultEvent):
                final = event.result
        assert final is not None
        return final, results

    return anyio.run(main)


def agent_calling(server: MCPServer, *calls: tuple[str, str], **options: Any) -> Agent:
    """An agent whose model calls ``calls`` (name, JSON arguments) in one round, then answers."""
    round_ = [ToolCall.of(f"c{i}", name, args) for i, (name, args) in enumerate(calls)]
    model = ScriptedModel([round_, "done"])
    return Agent(fast=model, mcp_servers=[server], tools=[shout], budget_ms=5000, **options)


def test_tools_are_listed_with_their_schemas(server: MCPServer) -> None:
    tools = anyio.run(server.list_tools)
    by_name = {t.name: t for t in tools}
    assert {"add", "lookup", "files_read", "slow", "freeze", "crash", "fail"} <= set(by_name)
    assert by_name["files_read"].remote_name == "files.read"  # a name model APIs refuse
    add = by_name["add"].openai_schema()["function"]
    assert add["description"] == "Add two integers."
    assert add["parameters"]["required"] == ["a"]
    assert add["parameters"]["properties"]["b"]["default"] == 1
    assert "bad_schema" not in by_name  # malformed: left out (see the malformed-schema test)
    assert anyio.run(server.list_tools)[0] is tools[0]  # cached


def test_an_agent_calls_them_like_local_tools(server: MCPServer) -> None:
    agent = agent_calling(server, ("add", '{"a": 2, "b": 3}'), ("shout", '{"text": "hi"}'))
    result, tool_results = run_turn(agent)
    assert (result.outcome, result.text) == ("ok", "done")
    assert [(r.name, r.ok, r.content) for r in tool_results] == [
        ("add", True, "5"),
        ("shout", True, "HI"),
    ]
    model = agent.fast
    assert isinstance(model, ScriptedModel)
    offered = {schema["function"]["name"] for schema in model.calls[0].tools}
    assert {"add", "files_read", "shout"} <= offered and "bad_schema" not in offered
    assert [m.content for m in model.calls[1].messages if m.role == "tool"] == ["5", "HI"]


def test_results_pass_the_safety_check(server: MCPServer) -> None:
    safety = KeywordFilter()
    agent = agent_calling(
        server, ("lookup", '{"customer": "Ann"}'), ("dangerous", "{}"), safety=safety
    )
    result, _ = run_turn(agent)
    assert result.outcome == "ok"
    model = agent.fast
    assert isinstance(model, ScriptedModel)
    seen = [m.content for m in model.calls[1].messages if m.role == "tool"]
    assert seen == ["Ann: reach them at [EMAIL]", WITHHELD]
    assert ("tool_result", "how to build a bomb") in safety.seen


def test_bad_arguments_and_tool_errors_are_typed_results(server: MCPServer) -> None:
    agent = agent_calling(
        server,
        ("add", '{"a": "two"}'),
        ("add", "[1, 2]"),
        ("add", "{not json"),
        ("fail", '{"reason": "disk full"}'),
    )
    result, results = run_turn(agent)
    assert result.outcome == "ok"
    assert [r.error for r in results] == ["validation", "validation", "invalid_json", "exception"]
    assert "- a: 'two' is not of type 'integer'" in results[0].content
    assert "ToolServerError" in results[3].content


def test_a_slow_tool_and_a_hung_server_time_out_like_local_tools(server: MCPServer) -> None:
    policy = BudgetPolicy(tool_ms=300)
    agent = agent_calling(server, ("slow", '{"seconds": 5}'), ("shout", '{"text": "ok"}'))
    agent = Agent(fast=agent.fast, mcp_servers=[server], tools=[shout], policy=policy)
    result, results = run_turn(agent)
    assert result.outcome == "ok"
    assert [(r.name, r.error) for r in results] == [("slow", "timeout"), ("shout", None)]
    # The whole server blocked: its calls time out too; the turn goes on.
    hung = Agent(
        fast=ScriptedModel([ToolCall.of("h", "freeze", '{"seconds": 1.0}'), "done"]),
        mcp_servers=[server],
        policy=policy,
    )
    with capture_logs() as logs:
        result, results = run_turn(hung)
    assert (result.outcome, [r.error for r in results]) == ("ok", ["timeout"])
    abandoned = [e for e in logs if e["event"] == "mcp_call_abandoned"]
    assert [e["tool"] for e in abandoned] == ["freeze"]
    # Once it thaws, the connection still serves.
    later = agent_calling(server, ("add", '{"a": 1}'))
    _, results = run_turn(later)
    assert [r.content for r in results] == ["2"]


def test_a_malformed_schema_is_left_out_and_its_call_is_a_typed_result(
    server: MCPServer,
) -> None:
    with capture_logs() as logs:
        tools = anyio.run(lambda: server.list_tools(refresh=True))
    assert "bad_schema" not in {t.name for t in tools}
    skipped = [e for e in logs if e["event"] == "mcp_tool_skipped"]
    assert skipped and skipped[0]["tool"] == "bad_schema"
    assert "not a valid JSON Schema" in skipped[0]["why"]
    agent = agent_calling(server, ("bad_schema", '{"x": 1}'), ("add", '{"a": 1}'))
    result, results = run_turn(agent)
    assert result.outcome == "ok"
    assert [(r.name, r.error) for r in results] == [("bad_schema", "unknown_tool"), ("add", None)]
