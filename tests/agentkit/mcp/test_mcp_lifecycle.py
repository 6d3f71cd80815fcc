"""Connecting, caching, reconnecting and closing MCP servers; servers that crash or never answer.

A connection opens on first need, survives the event loop that opened it
(`Runner.run_sync` runs each turn in a new one), is reopened after a crash,
and closes with ``async with`` or `close`. Whatever the server does, the turn
goes on, with a typed tool result or a reason, and a log line.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from agentkit import ScriptedModel, ToolCall
from agentkit._agent import Agent
from agentkit._budget import BudgetPolicy
from agentkit._runner import Runner
from agentkit.errors import ToolServerError
from agentkit.mcp import MCPServer, MCPServerStdio, MCPServerStreamableHttp
from tests.agentkit.mcp.conftest import stdio_server
from tests.agentkit.mcp.test_mcp_tools import agent_calling, run_turn, shout


def _pid(server: MCPServer) -> int:
    result = anyio.run(lambda: server.call_tool("pid", {}))
    return int(result.content[0].text)  # type: ignore[union-attr]


def _wait_for_log(logs: list[dict[str, Any]], event: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """The first ``event`` log entry; the server's thread may write it a moment later."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        for entry in logs:
            if entry["event"] == event:
                return entry
        time.sleep(0.01)
    raise AssertionError(f"no {event!r} log line in {[e['event'] for e in logs]}")


def test_lazy_connect_survives_event_loops_and_a_slow_start_costs_no_turn() -> None:
    server = stdio_server(name="lazy")
    agent = Agent(
        fast=ScriptedModel(["no tools yet", ToolCall.of("a", "add", '{"a": 4}'), "done"]),
        mcp_servers=[server],
        policy=BudgetPolicy(tool_ms=20),  # far less than the server takes to start
    )
    try:
        first = Runner.run_sync(agent, "hi")  # starts connecting; cannot wait for it
        assert (first.outcome, first.text) == ("ok", "no tools yet")
        assert "tools of 'lazy' not ready in time" in first.reasons
        anyio.run(server.connect)  # waits for the same connection, in another loop
        second, results = run_turn(agent)
        assert (second.outcome, [r.content for r in results]) == ("ok", ["5"])
        assert "add" in agent.registry
        pid = _pid(server)
        assert _pid(server) == pid and server.connected  # one process across loops
    finally:
        server.close()
    assert not server.connected


def test_a_crashed_server_is_a_typed_result_and_the_next_call_restarts_it(
    shared_stdio: MCPServerStdio,
) -> None:
    before = _pid(shared_stdio)
    agent = agent_calling(shared_stdio, ("crash", "{}"))
    with capture_logs() as logs:
        result, results = run_turn(agent)
        _wait_for_log(logs, "mcp_server_lost")
    assert (result.outcome, result.text) == ("ok", "done")
    assert results[0].error == "exception"
    assert "closed the connection (it may have crashed)" in results[0].content
    # The next call opens a new connection to a new process.
    after = agent_calling(shared_stdio, ("add", '{"a": 1}'), policy=BudgetPolicy(tool_ms=10_000))
    _, results = run_turn(after)
    assert [r.content for r in results] == ["2"]
    assert _pid(shared_stdio) != before


def test_a_crashed_http_server_is_typed_results_until_it_is_back(http_urls: list[str]) -> None:
    server = MCPServerStreamableHttp(http_urls[1], name="doomed", retry_after_s=60)
    try:
        agent = agent_calling(server, ("crash", "{}"), policy=BudgetPolicy(tool_ms=3000))
        result, results = run_turn(agent)
        assert (result.outcome, results[0].error) == ("ok", "exception")
        assert "ToolServerError" in results[0].content
        # The process is gone: the next call fails fast, typed, and the turn goes on.
        again = agent_calling(server, ("add", '{"a": 1}'), policy=BudgetPolicy(tool_ms=3000))
        result, results = run_turn(again)
        assert (result.outcome, results[0].error) == ("ok", "exception")
        assert "unavailable" in results[0].content or "failed" in results[0].content
        with pytest.raises(ToolServerError) as info:
            anyio.run(lambda: server.call_tool("add", {"a": 1}))
        assert info.value.kind == "unavailable" and info.value.server == "doomed"
    finally:
        server.close()


def test_a_server_that_never_answers_is_unavailable_and_the_turn_goes_on() -> None:
    silent = MCPServerStdio(
        # Reads its input and never answers (and ends with it, so that closing is quick).
        sys.executable,
        ["-c", "import sys; sys.stdin.read()"],
        name="silent",
        connect_timeout_s=0.3,
    )
    agent = Agent(
        fast=ScriptedModel(["answered anyway"]),
        mcp_servers=[silent],
        tools=[shout],
        policy=BudgetPolicy(tool_ms=2000),
        budget_ms=4000,
    )
    try:
        with capture_logs() as logs:
            result = Runner.run_sync(agent, "hi")
            failed = _wait_for_log(logs, "mcp_server_unavailable")
        assert (result.outcome, result.text) == ("ok", "answered anyway")
        assert "tools of 'silent' unavailable (ToolServerError)" in result.reasons
        assert agent.registry.names == ["shout"]
        assert "no answer within connect_timeout_s=0.3" in failed["error"]
        # Within retry_after_s the next need fails at once, without a new process.
        start = time.monotonic()
        with pytest.raises(ToolServerError, match="next attempt in"):
            anyio.run(silent.connect)
        assert time.monotonic() - start < 0.2
    finally:
        silent.close()


def test_a_server_that_cannot_start_is_unavailable() -> None:
    missing = MCPServerStdio("/nonexistent/mcp-server", name="missing")
    with pytest.raises(ToolServerError) as info:
        anyio.run(missing.connect)
    assert info.value.kind == "unavailable" and "missing" in str(info.value)
    missing.close()


def test_async_with_connects_and_closes(http_urls: list[str]) -> None:
    async def main() -> MCPServer:
        async with MCPServerStreamableHttp(http_urls[0], prefix="h_") as server:
            assert server.connected
            names = [t.name for t in await server.list_tools()]
            assert "h_add" in names and "h_files_read" in names
            result = await server.call_tool("add", {"a": 40, "b": 2})
            assert result.content[0].text == "42"  # type: ignore[union-attr]
        return server

    server = anyio.run(main)
    assert not server.connected and not server._loop.running


def test_refresh_replaces_the_tools_in_the_agents_registry(shared_http: MCPServer) -> None:
    script = [
        ToolCall.of("1", "add", '{"a": 1}'),
        "done",
        ToolCall.of("2", "add", '{"a": 2}'),
        "ok",
    ]
    agent = Agent(fast=ScriptedModel(script), mcp_servers=[shared_http])
    run_turn(agent)
    old = agent.registry.get("add")
    anyio.run(lambda: shared_http.list_tools(refresh=True))
    _, results = run_turn(agent)
    assert agent.registry.get("add") is not old  # the refreshed tool, not the stale one
    assert [r.content for r in results] == ["3"]
    assert agent.registry.names.count("add") == 1


def test_a_local_tool_keeps_its_name_against_a_servers(shared_http: MCPServer) -> None:
    from tools import tool

    @tool
    def add(a: int) -> str:
        """The local add."""
        return "local"

    agent = Agent(
        fast=ScriptedModel([ToolCall.of("c", "add", '{"a": 1}'), "done"]),
        mcp_servers=[shared_http],
        tools=[add],
    )
    with capture_logs() as logs:
        _, results = run_turn(agent)
    assert [r.content for r in results] == ["local"]
    assert any(e["event"] == "source_tool_name_taken" and e["tool"] == "add" for e in logs)


def test_closing_during_a_call_ends_it_with_a_typed_error(http_urls: list[str]) -> None:
    server = MCPServerStreamableHttp(http_urls[0], name="closing")

    async def main() -> tuple[BaseException | None, float]:
        await server.connect()
        failure: BaseException | None = None

        async def call() -> None:
            nonlocal failure
            try:
                await server.call_tool("slow", {"seconds": 5})
            except ToolServerError as exc:
                failure = exc

        start = anyio.current_time()
        async with anyio.create_task_group() as group:
            group.start_soon(call)
            await anyio.sleep(0.2)
            await server.aclose()
        return failure, anyio.current_time() - start

    failure, elapsed = anyio.run(main)
    assert isinstance(failure, ToolServerError) and failure.kind == "unavailable"
    assert elapsed < 3.0 and not server.connected
