"""MCP tools as `tools.Tool`: the server's JSON schema, checked, and its results as text.

A tool the server lists becomes an `MCPTool` in the agent's `ToolRegistry`, so
it runs exactly like a local tool: the registry's timeouts and typed results,
the safety filter's check of every result, the turn's tool loop. What the
server sends is checked first: a tool whose name or input schema the model's
API could not take (not a JSON Schema, not an object, too large) is left out,
with a log line, and the model never sees it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import anyio
import pydantic_core
import structlog
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from mcp_types import CallToolResult
from mcp_types import Tool as RemoteTool
from pydantic import BaseModel, ConfigDict

from agentkit._errors import ToolServerError
from tools import Tool, ToolArgumentError

__all__ = ["ApprovalRule", "MCPTool", "ToolCaller", "build_tools", "render_result"]

_log = structlog.get_logger("agentkit.mcp")

_NAME_OK = re.compile(r"[^a-zA-Z0-9_-]")
_MAX_SCHEMA_CHARS = 100_000  # a schema is sent with every model call: a bigger one is a fault
_MAX_ERRORS = 5  # argument errors listed to the model per call


ApprovalRule = bool | Callable[[str, dict[str, Any]], bool]
"""Which calls of a server's tools wait for a person's approval: all, none, or a predicate
on the tool's name on the server and its arguments (e.g. refunds over 100)."""


class ToolCaller(Protocol):
    """What an `MCPTool` needs from its server: a name and a way to call."""

    name: str

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        """Call the server's tool ``name``."""
        ...


class _Arguments(BaseModel):
    """Any JSON object: the server's own JSON Schema checks the arguments (`MCPTool.run`)."""

    model_config = ConfigDict(extra="allow")


def _checked_schema(schema: Mapping[str, Any]) -> tuple[dict[str, Any], Validator]:
    """The input schema as the model will see it, and its validator; ValueError when unusable."""
    parameters = dict(schema)
    kind = parameters.setdefault("type", "object")
    if kind != "object":
        raise ValueError(f"the input schema's type is {kind!r}, not 'object'")
    if len(json.dumps(parameters)) > _MAX_SCHEMA_CHARS:
        raise ValueError(f"the input schema is over {_MAX_SCHEMA_CHARS} characters")
    cls = validator_for(parameters)
    try:
        cls.check_schema(parameters)
    except SchemaError as exc:
        raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
    return parameters, cls(parameters)


def _local_name(prefix: str, remote: str) -> str:
    """The registry name: prefixed, with characters model APIs refuse replaced by '_'."""
    return _NAME_OK.sub("_", prefix + remote)[:64]


class MCPTool(Tool):
    """A tool served by an MCP server, run through the same `ToolRegistry` as local tools.

    Arguments are checked against the server's JSON Schema before the call (a
    mismatch is a ``validation`` result the model can fix); a result the
    server marks as an error, or a server that is down, is an ``exception``
    result naming the server. Timeouts are the registry's, as for any tool.

    The server's ``needs_approval`` rule becomes the tool's (see `tools.Tool`),
    so the agent loop asks for approval exactly as for a local tool.

    Attributes:
        source: The server that serves the tool.
        remote_name: The tool's name on the server (``name`` may carry a prefix).
    """

    def __init__(
        self,
        source: ToolCaller,
        remote: RemoteTool,
        *,
        name: str,
        parameters: dict[str, Any],
        validator: Validator,
        timeout_s: float | None = None,
        needs_approval: ApprovalRule = False,
    ) -> None:
        """Wrap one listed tool; prefer `build_tools`, which checks what the server sent."""
        self.source = source
        self.remote_name = remote.name
        self._validator = validator
        super().__init__(
            name=name,
            description=remote.description or remote.title or "",
            args_model=_Arguments,
            handler=self._call,
            timeout_s=timeout_s,
        )
        self._parameters = parameters
        self.needs_approval: bool | Callable[[Any], bool] = (
            needs_approval if isinstance(needs_approval, bool) else self._approval(needs_approval)
        )

    def _approval(self, rule: Callable[[str, dict[str, Any]], bool]) -> Callable[[Any], bool]:
        """The server's rule as a tool's: a predicate on the validated argument model."""

        def check(args: BaseModel) -> bool:
            return rule(self.remote_name, dict(args.model_extra or {}))

        return check

    async def _call(self, args: BaseModel) -> str:
        arguments = dict(args.model_extra or {})
        problems = _argument_errors(self._validator, arguments)
        if problems:
            raise ToolArgumentError(problems)
        try:
            result = await self.source.call_tool(self.remote_name, arguments)
        except anyio.get_cancelled_exc_class():  # a timeout (the registry's) or the turn's end
            _log.warning("mcp_call_abandoned", server=self.source.name, tool=self.remote_name)
            raise
        text = render_result(result)
        if result.is_error:
            raise ToolServerError(self.source.name, "tool", text or "the tool reported an error")
        return text

    def __repr__(self) -> str:
        return f"MCPTool(name={self.name!r}, server={self.source.name!r})"


def _argument_errors(validator: Validator, arguments: dict[str, Any]) -> str:
    try:
        errors = list(validator.iter_errors(arguments))
    except Exception as exc:  # e.g. a $ref the schema cannot resolve: the server decides
        _log.warning("mcp_argument_check_failed", error=f"{type(exc).__name__}: {exc}")
        return ""
    if not errors:
        return ""
    lines = []
    for error in errors[:_MAX_ERRORS]:
        where = ".".join(str(part) for part in error.absolute_path) or "(arguments)"
        lines.append(f"- {where}: {error.message[:200]}")
    schema = json.dumps(validator.schema, separators=(",", ":"))[:500]
    return "\n".join(["the arguments do not fit the tool's schema:", *lines, f"Schema: {schema}"])


def build_tools(
    source: ToolCaller,
    listed: Iterable[RemoteTool],
    *,
    prefix: str = "",
    timeout_s: float | None = None,
    needs_approval: ApprovalRule = False,
) -> list[MCPTool]:
    """Turn a server's listing into tools; what cannot be offered is logged and left out.

    Args:
        source: The server the tools call.
        listed: The tools as the server listed them.
        prefix: Put before every tool's name (to keep two servers' tools apart).
        timeout_s: Time limit per call (None: the registry's).
        needs_approval: Which calls wait for a person's approval (see `ApprovalRule`).

    Returns:
        One `MCPTool` per usable tool, in the server's order, names unique.
    """
    tools: list[MCPTool] = []
    seen: set[str] = set()
    for remote in listed:
        name = _local_name(prefix, remote.name)
        try:
            if not remote.name or name in seen:
                raise ValueError("an empty or repeated tool name")
            parameters, validator = _checked_schema(remote.input_schema)
        except ValueError as exc:
            _log.warning(
                "mcp_tool_skipped", server=source.name, tool=remote.name[:100], why=str(exc)
            )
            continue
        seen.add(name)
        tools.append(
            MCPTool(
                source,
                remote,
                name=name,
                parameters=parameters,
                validator=validator,
                timeout_s=timeout_s,
                needs_approval=needs_approval,
            )
        )
    return tools


def _block_text(block: Any) -> str:
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(block.text)
    if kind in ("image", "audio"):
        return f"[{kind}: {block.mime_type}, {len(block.data) * 3 // 4} bytes]"
    if kind == "resource":
        inner = block.resource
        text = getattr(inner, "text", None)
        return str(text) if text is not None else f"[resource: {inner.uri}]"
    if kind == "resource_link":
        return f"[resource: {block.uri}]"
    return f"[{kind or 'unknown'} content]"


def render_result(result: CallToolResult) -> str:
    """The text the model reads: the content blocks; the structured content if there are none."""
    parts = [_block_text(block) for block in result.content]
    if not parts and result.structured_content is not None:
        return pydantic_core.to_json(result.structured_content, fallback=str).decode()
    return "\n".join(parts)
