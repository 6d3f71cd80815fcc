"""Typed inputs and outputs of tool execution: :class:`ToolInvocation` and :class:`ToolResult`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ToolErrorKind", "ToolInvocation", "ToolResult", "render_value"]

ToolErrorKind = Literal[
    "invalid_json", "validation", "unknown_tool", "timeout", "exception", "rejected"
]
"""Why a tool call failed; ``None`` on a :class:`ToolResult` means it succeeded.

``rejected``: the call needed approval and a person turned it down (the agent
loop writes this result; the registry never does)."""


class ToolInvocation(BaseModel):
    """One call the model asked for, flattened for execution.

    Not `agentkit.ToolCall`, the wire-shaped call inside a chat message;
    `from_openai` reads that shape (or its dict) into this one.

    Attributes:
        call_id: The id the model gave the call; echoed back on the result.
        name: Name of the tool to run.
        arguments: The arguments as the raw JSON text the model produced.
    """

    model_config = ConfigDict(frozen=True)

    call_id: str
    name: str
    arguments: str = "{}"

    @classmethod
    def from_openai(cls, call: Mapping[str, Any] | BaseModel) -> ToolInvocation:
        """Read a chat-completions tool call (``{"id", "function": {"name", "arguments"}}``).

        Args:
            call: One element of an assistant message's ``tool_calls``, as a dict or
                as any pydantic model of that shape (such as ``agentkit.ToolCall``).

        Returns:
            The equivalent :class:`ToolInvocation`.
        """
        if isinstance(call, BaseModel):
            call = call.model_dump()
        function = call.get("function") or {}
        return cls(
            call_id=str(call.get("id", "")),
            name=str(function.get("name", "")),
            arguments=str(function.get("arguments") or "{}"),
        )


class ToolResult(BaseModel):
    """The outcome of one tool call, success or failure.

    Failures are data, not exceptions: ``content`` then explains what went wrong
    in words the model can act on (fix the JSON, fix an argument, pick a tool
    that exists, try something cheaper).

    Attributes:
        call_id: The id of the call this answers.
        name: The tool name the model asked for (even if no such tool exists).
        ok: Whether the tool ran and returned a value.
        content: Text to show the model: the rendered return value or the error message.
        error: The kind of failure, or ``None`` when ``ok``.
        elapsed_ms: Wall time from receiving the call to having a result.
    """

    model_config = ConfigDict(frozen=True)

    call_id: str
    name: str
    ok: bool
    content: str
    error: ToolErrorKind | None = None
    elapsed_ms: float = Field(ge=0.0)

    def to_message(self) -> dict[str, str]:
        """Return the chat-completions ``tool`` message carrying this result.

        Returns:
            ``{"role": "tool", "tool_call_id": ..., "content": ...}``.
        """
        return {"role": "tool", "tool_call_id": self.call_id, "content": self.content}


def render_value(value: Any) -> str:
    """Render a tool's return value as the text the model reads.

    Strings pass through unchanged; everything else (pydantic models, dicts,
    lists, numbers, ``None``) becomes compact JSON. Unknown objects fall back to
    ``str()`` inside the JSON rather than failing the call.

    Args:
        value: Whatever the tool returned.

    Returns:
        The text for :attr:`ToolResult.content`.
    """
    if isinstance(value, str):
        return value
    return pydantic_core.to_json(value, fallback=str).decode()
