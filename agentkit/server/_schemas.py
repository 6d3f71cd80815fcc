"""Pydantic models of the OpenAI request bodies the server accepts.

Validation is strict (``"1"`` is not an integer, as with OpenAI) and unknown
top-level fields are rejected with 400, as the OpenAI API does ("Unrecognized
request argument supplied"): a typo such as ``max_token`` should fail loudly
rather than be silently ignored. Fields OpenAI defines that have no meaning
here (``user``, penalties, ``logit_bias``, ``metadata``...) are accepted and
ignored. Nested objects (messages, tools) ignore unknown keys, because
clients legitimately add vendor keys there (``refusal``, ``annotations``).
The one extension is ``deadline_ms``: milliseconds from receipt.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatCompletionRequest",
    "ChatMessageIn",
    "CompletionRequest",
    "ContentPart",
    "FunctionCallIn",
    "FunctionDefinition",
    "NamedToolChoice",
    "ResponseFormat",
    "StreamOptions",
    "ToolCallIn",
    "ToolIn",
]

_TOP = ConfigDict(extra="forbid", strict=True, frozen=True)
_NESTED = ConfigDict(extra="ignore", strict=True, frozen=True)


class StreamOptions(BaseModel):
    """``stream_options``: only ``include_usage`` has an effect."""

    model_config = _NESTED
    include_usage: bool = False


class ContentPart(BaseModel):
    """One part of a multi-part message content; only ``text`` parts are supported."""

    model_config = _NESTED
    type: str
    text: str | None = None


class FunctionCallIn(BaseModel):
    """The function of a tool call in an assistant message."""

    model_config = _NESTED
    name: str
    arguments: str = "{}"


class ToolCallIn(BaseModel):
    """A tool call in an assistant message of the conversation history."""

    model_config = _NESTED
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallIn


class ChatMessageIn(BaseModel):
    """A chat message as clients send it (``developer`` is treated as ``system``)."""

    model_config = _NESTED
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None


class FunctionDefinition(BaseModel):
    """A function tool's definition."""

    model_config = _NESTED
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolIn(BaseModel):
    """A tool the model may call; only function tools exist in chat completions."""

    model_config = _NESTED
    type: Literal["function"] = "function"
    function: FunctionDefinition


class _NamedFunction(BaseModel):
    model_config = _NESTED
    name: str


class NamedToolChoice(BaseModel):
    """``tool_choice`` naming one function: ``{"type": "function", "function": {"name": ...}}``."""

    model_config = _NESTED
    type: Literal["function"] = "function"
    function: _NamedFunction


class ResponseFormat(BaseModel):
    """``response_format``: text, any JSON object, or a JSON Schema."""

    model_config = _NESTED
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class _Common(BaseModel):
    """Fields shared by both endpoints."""

    model_config = _TOP

    model: str
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int | None = Field(default=None, ge=0, lt=2**63)  # the engine's generator range
    n: int | None = Field(default=None, ge=1)
    deadline_ms: float | None = Field(default=None, gt=0.0)
    # Accepted for compatibility, without effect here.
    user: str | None = None
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None


class ChatCompletionRequest(_Common):
    """``POST /v1/chat/completions`` body."""

    messages: list[ChatMessageIn] = Field(min_length=1)
    tools: list[ToolIn] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None


class CompletionRequest(_Common):
    """``POST /v1/completions`` body (``prompt`` + optional ``suffix`` for fill-in-the-middle)."""

    prompt: str | list[str]
    suffix: str | None = None
    max_tokens: int | None = Field(default=16, ge=1)  # OpenAI's default for this endpoint
    echo: bool = False
    best_of: int | None = Field(default=None, ge=1)
    logprobs: int | None = Field(default=None, ge=0, le=5)
