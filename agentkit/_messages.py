"""Chat messages and tool calls in the OpenAI chat-completions shapes.

The models map 1:1 onto the wire format: ``Message.model_dump(exclude_none=True)``
is a valid element of a chat-completions ``messages`` array.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FunctionCall", "Message", "Role", "ToolCall", "ToolSchema", "Usage"]

Role = Literal["system", "user", "assistant", "tool"]

ToolSchema = dict[str, Any]
"""An OpenAI function-tool schema: ``{"type": "function", "function": {...}}``.

`Any` is the documented boundary: JSON Schema is open-ended.
"""


class FunctionCall(BaseModel):
    """The function a tool call invokes; ``arguments`` is a JSON string, as on the wire."""

    model_config = ConfigDict(frozen=True)

    name: str
    arguments: str = "{}"


class ToolCall(BaseModel):
    """One tool call requested by the model."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall

    @classmethod
    def of(cls, call_id: str, name: str, arguments: str = "{}") -> ToolCall:
        """Build a call without spelling out the nested shape."""
        return cls(id=call_id, function=FunctionCall(name=name, arguments=arguments))


class Message(BaseModel):
    """One chat message (system, user, assistant or tool)."""

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    @classmethod
    def system(cls, text: str) -> Message:
        """A system message."""
        return cls(role="system", content=text)

    @classmethod
    def user(cls, text: str) -> Message:
        """A user message."""
        return cls(role="user", content=text)

    @classmethod
    def assistant(cls, text: str | None, tool_calls: list[ToolCall] | None = None) -> Message:
        """An assistant message: text, tool calls, or both."""
        return cls(role="assistant", content=text, tool_calls=tuple(tool_calls or ()) or None)

    @classmethod
    def tool(cls, call_id: str, content: str) -> Message:
        """The result of tool call ``call_id``."""
        return cls(role="tool", content=content, tool_call_id=call_id)

    def to_openai(self) -> dict[str, Any]:
        """The wire shape of this message."""
        return self.model_dump(mode="json", exclude_none=True)


class Usage(BaseModel):
    """Token counts of one model call."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )
