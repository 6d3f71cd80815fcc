"""agentkit.mcp without a server: schema checks, result rendering, argument checks, config.

A fake `ToolCaller` stands in for the server where only the tool's own logic
is under test; everything that crosses the wire is tested against the real
server in test_mcp_tools.py and test_mcp_lifecycle.py.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp_types import (
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)
from mcp_types import Tool as RemoteTool
from structlog.testing import capture_logs

from agentkit import ScriptedModel
from agentkit._agent import Agent
from agentkit.errors import ConfigError
from agentkit.mcp import MCPServerStdio, MCPServerStreamableHttp
from agentkit.mcp._tool import build_tools, render_result
from tools import ToolRegistry

OBJECT = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


class FakeServer:
    """A `ToolCaller` that records calls and answers with a fixed result."""

    name = "fake"

    def __init__(self, result: CallToolResult | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.result = result or CallToolResult(content=[TextContent(text="fine")])

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        self.calls.append((name, arguments))
        return self.result


def remote(name: str, schema: dict[str, Any], **fields: Any) -> RemoteTool:
    return RemoteTool(name=name, input_schema=schema, **fields)


def test_build_tools_keeps_what_a_model_can_take_and_logs_the_rest() -> None:
    listed = [
        remote("ok", OBJECT, description="Fine."),
        remote("array", {"type": "array"}),
        remote("invalid", {"type": "object", "properties": {"n": {"type": 12}}}),
        remote("huge", {"type": "object", "description": "x" * 200_000}),
        remote("no.schema", {}, title="Titled"),
        remote("no_schema", {}),  # the same name as the previous one, once sanitised
    ]
    with capture_logs() as logs:
        tools = build_tools(FakeServer(), listed, prefix="p_")
    assert [(t.name, t.remote_name) for t in tools] == [
        ("p_ok", "ok"),
        ("p_no_schema", "no.schema"),
    ]
    assert tools[0].description == "Fine." and tools[1].description == "Titled"
    assert tools[1].parameters == {"type": "object"}  # no schema: no arguments
    skipped = {e["tool"]: e["why"] for e in logs if e["event"] == "mcp_tool_skipped"}
    assert set(skipped) == {"array", "invalid", "huge", "no_schema"}
    assert "'array', not 'object'" in skipped["array"]
    assert "not a valid JSON Schema" in skipped["invalid"]
    assert "over 100000 characters" in skipped["huge"]


def test_long_names_are_cut_to_what_model_apis_take() -> None:
    (tool,) = build_tools(FakeServer(), [remote("a" * 100, OBJECT)])
    assert tool.name == "a" * 64 and tool.remote_name == "a" * 100


def _registry(server: FakeServer, schema: dict[str, Any] = OBJECT) -> ToolRegistry:
    return ToolRegistry(build_tools(server, [remote("count", schema)]))


def test_arguments_are_checked_against_the_servers_schema_before_any_call() -> None:
    server = FakeServer()
    registry = _registry(server)
    bad = anyio.run(registry.execute, "1", "count", '{"n": "three", "extra": 1}')
    assert (bad.ok, bad.error) == (False, "validation")
    assert "- n: 'three' is not of type 'integer'" in bad.content
    assert server.calls == []
    good = anyio.run(registry.execute, "2", "count", '{"n": 3}')
    assert (good.ok, good.content) == (True, "fine")
    assert server.calls == [("count", {"n": 3})]


def test_a_schema_that_cannot_check_leaves_the_check_to_the_server() -> None:
    server = FakeServer()
    registry = _registry(server, {"type": "object", "properties": {"n": {"$ref": "#/$defs/gone"}}})
    with capture_logs() as logs:
        result = anyio.run(registry.execute, "1", "count", '{"n": 1}')
    assert result.ok and server.calls == [("count", {"n": 1})]
    assert [e["event"] for e in logs] == ["mcp_argument_check_failed"]


def test_an_error_result_is_an_exception_result_naming_the_server() -> None:
    server = FakeServer(CallToolResult(content=[TextContent(text="quota exceeded")], is_error=True))
    result = anyio.run(_registry(server).execute, "1", "count", '{"n": 1}')
    assert (result.ok, result.error) == (False, "exception")
    assert result.content == "Tool 'count' failed: ToolServerError: quota exceeded"


def test_results_render_as_the_text_a_model_reads() -> None:
    blocks = [
        TextContent(text="line one"),
        ImageContent(data="aGVsbG8h", mime_type="image/png"),
        EmbeddedResource(resource=TextResourceContents(uri="file:///a.txt", text="from a")),
        EmbeddedResource(resource=BlobResourceContents(uri="file:///b.bin", blob="AAAA")),
        ResourceLink(uri="file:///c.txt", name="c"),
    ]
    assert render_result(CallToolResult(content=blocks)).splitlines() == [
        "line one",
        "[image: image/png, 6 bytes]",
        "from a",
        "[resource: file:///b.bin]",
        "[resource: file:///c.txt]",
    ]
    structured = CallToolResult(content=[], structured_content={"total": 3})
    assert render_result(structured) == '{"total":3}'


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: MCPServerStdio(""), "command"),
        (lambda: MCPServerStreamableHttp("ftp://example.org/mcp"), "url"),
        (lambda: MCPServerStreamableHttp("http:///mcp"), "url"),
        (lambda: MCPServerStdio("x", connect_timeout_s=0), "connect_timeout_s"),
        (lambda: MCPServerStdio("x", timeout_s=float("inf")), "timeout_s"),
        (lambda: MCPServerStdio("x", retry_after_s=-1), "retry_after_s"),
        (lambda: MCPServerStdio("x", needs_approval="yes"), "needs_approval"),
        (lambda: Agent(fast=ScriptedModel([]), mcp_servers=[object()]), "mcp_servers"),  # type: ignore[list-item]
    ],
)
def test_bad_configuration_is_a_config_error(build: Any, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert info.value.field == field


def test_a_servers_approval_rule_becomes_each_tools() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def rule(name: str, arguments: dict[str, Any]) -> bool:
        seen.append((name, arguments))
        return name == "refund" and arguments.get("amount", 0) > 100

    listed = [remote("refund", OBJECT), remote("status", OBJECT)]
    refund, status = build_tools(FakeServer(), listed, prefix="shop_", needs_approval=rule)
    big, small = refund.validate_json('{"amount": 250}'), refund.validate_json('{"amount": 5}')
    assert callable(refund.needs_approval) and callable(status.needs_approval)
    assert refund.needs_approval(big) and not refund.needs_approval(small)
    assert not status.needs_approval(status.validate_json('{"amount": 250}'))
    assert seen[0] == ("refund", {"amount": 250})  # the server's name, not the prefixed one
    (always,) = build_tools(FakeServer(), [remote("x", OBJECT)], needs_approval=True)
    assert always.needs_approval is True
    (never,) = build_tools(FakeServer(), [remote("x", OBJECT)])
    assert never.needs_approval is False
