"""Request → agentkit conversion and OpenAI response/chunk shapes for both endpoints."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from agentkit._messages import Message, ToolCall, ToolSchema, Usage
from agentkit._model import SamplingSettings, SpeculativeStats
from agentkit.server._errors import APIError
from agentkit.server._schemas import ChatCompletionRequest, ChatMessageIn, CompletionRequest

__all__ = [
    "MAX_STOP_CHARS",
    "ChatFormat",
    "CompletionFormat",
    "Exchange",
    "sampling_settings",
    "speculative_json",
    "to_messages",
    "to_tools",
]

_MAX_STOPS = 4  # OpenAI's limit
# The engine's own limit (engine._types.MAX_STOP_CHARS; importing it would load torch).
# Matching is linear in it, but nothing legitimate comes near it.
MAX_STOP_CHARS = 400


@dataclass(frozen=True)
class Exchange:
    """Identity of one response: its id, creation time and model id."""

    model: str
    prefix: str
    id: str = field(default="")
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", f"{self.prefix}-{uuid.uuid4().hex[:24]}")


def speculative_json(stats: SpeculativeStats) -> dict[str, Any]:
    """The ``speculative`` extension object of a response."""
    return {
        "drafted": stats.drafted,
        "accepted": stats.accepted,
        "acceptance_rate": stats.acceptance_rate,
        "mean_accepted_length": stats.mean_accepted_length,
        "target_steps": stats.target_steps,
    }


def _usage_json(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _content(msg: ChatMessageIn, index: int) -> str | None:
    if msg.content is None or isinstance(msg.content, str):
        return msg.content
    texts = []
    for part in msg.content:
        if part.type != "text" or part.text is None:
            raise APIError(
                400,
                f"content part type {part.type!r} is not supported (text only)",
                param=f"messages.[{index}].content",
            )
        texts.append(part.text)
    return "".join(texts)


def to_messages(messages: list[ChatMessageIn]) -> list[Message]:
    """agentkit messages from the request's (``developer`` becomes ``system``)."""
    out = []
    for i, msg in enumerate(messages):
        calls = tuple(
            ToolCall.of(c.id, c.function.name, c.function.arguments) for c in msg.tool_calls or ()
        )
        out.append(
            Message(
                role="system" if msg.role == "developer" else msg.role,
                content=_content(msg, i),
                tool_calls=calls or None,
                tool_call_id=msg.tool_call_id,
                name=msg.name,
            )
        )
    return out


def to_tools(req: ChatCompletionRequest) -> list[ToolSchema]:
    """The tool schemas offered to the model, after ``tool_choice``.

    A named function offers only that one. ``none`` keeps every tool in the
    prompt and `sampling_settings` forbids calls (``tool_choice="none"``). The
    `Model` seam cannot force a call, so ``required`` offers all tools, like ``auto``.
    """
    tools = [t.model_dump(exclude_none=True) for t in req.tools or ()]
    choice = req.tool_choice
    if choice is None or isinstance(choice, str):
        return tools
    named = [t for t in tools if t["function"]["name"] == choice.function.name]
    if not named:
        raise APIError(
            400, f"tool_choice names unknown tool {choice.function.name!r}", param="tool_choice"
        )
    return named


def sampling_settings(
    req: ChatCompletionRequest | CompletionRequest, max_tokens: int, default_temperature: float
) -> SamplingSettings:
    """Validated sampling settings; an out-of-range value is a 400 on its field."""
    stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or ())
    if len(stops) > _MAX_STOPS:
        raise APIError(400, f"at most {_MAX_STOPS} stop sequences", param="stop")
    longest = max((len(s) for s in stops), default=0)
    if longest > MAX_STOP_CHARS:
        msg = f"each stop sequence must be at most {MAX_STOP_CHARS} characters, got {longest}"
        raise APIError(400, msg, param="stop")
    temperature = default_temperature if req.temperature is None else req.temperature
    top_p = 1.0 if req.top_p is None else req.top_p
    if top_p == 0.0:  # only the most likely token remains: greedy
        temperature, top_p = 0.0, 1.0
    schema = None
    if isinstance(req, ChatCompletionRequest) and req.response_format is not None:
        fmt = req.response_format
        if fmt.type == "json_object":
            schema = {"type": "object"}
        elif fmt.type == "json_schema":
            schema = dict((fmt.json_schema or {}).get("schema") or {"type": "object"})
    none = isinstance(req, ChatCompletionRequest) and req.tool_choice == "none"
    try:
        return SamplingSettings(
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=tuple(stops),
            seed=req.seed,
            json_schema=schema,
            tool_choice="none" if none else "auto",
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise APIError(400, f"{param}: {first['msg']}", param=param) from exc


class ChatFormat:
    """Shapes of ``chat.completion`` and ``chat.completion.chunk`` objects."""

    def __init__(self, ex: Exchange, include_usage: bool) -> None:
        self._ex = ex
        self.include_usage = include_usage
        self._tool_index = 0

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        base = {
            "id": self._ex.id,
            "object": "chat.completion.chunk",
            "created": self._ex.created,
            "model": self._ex.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if self.include_usage:
            base["usage"] = None
        return {**base, **extra}

    def _delta(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    def opening(self) -> dict[str, Any] | None:
        """The first chunk: the assistant role."""
        return self._chunk([self._delta({"role": "assistant", "content": ""})])

    def piece(self, piece: str | ToolCall) -> dict[str, Any]:
        """A chunk with a text delta or one whole tool call."""
        if isinstance(piece, str):
            return self._chunk([self._delta({"content": piece})])
        call = {"index": self._tool_index, **piece.model_dump()}
        self._tool_index += 1
        return self._chunk([self._delta({"tool_calls": [call]})])

    def finish(self, reason: str, spec: SpeculativeStats) -> dict[str, Any]:
        """The chunk carrying ``finish_reason`` (and the ``speculative`` extension)."""
        return self._chunk([self._delta({}, reason)], speculative=speculative_json(spec))

    def usage(self, usage: Usage, spec: SpeculativeStats) -> dict[str, Any]:
        """The trailing usage chunk (``include_usage``): no choices."""
        return self._chunk([], usage=_usage_json(usage), speculative=speculative_json(spec))

    def whole(
        self, text: str, calls: list[ToolCall], reason: str, usage: Usage, spec: SpeculativeStats
    ) -> dict[str, Any]:
        """The non-streaming ``chat.completion`` object."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text or (None if calls else ""),
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = [c.model_dump() for c in calls]
        return {
            "id": self._ex.id,
            "object": "chat.completion",
            "created": self._ex.created,
            "model": self._ex.model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": reason}
            ],
            "usage": _usage_json(usage),
            "speculative": speculative_json(spec),
        }


class CompletionFormat:
    """Shapes of ``text_completion`` objects, whole and streamed."""

    def __init__(self, ex: Exchange, include_usage: bool, echo: str = "") -> None:
        self._ex = ex
        self.include_usage = include_usage
        self._echo = echo

    def _obj(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        base = {
            "id": self._ex.id,
            "object": "text_completion",
            "created": self._ex.created,
            "model": self._ex.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if self.include_usage:
            base["usage"] = None
        return {**base, **extra}

    @staticmethod
    def _choice(text: str, finish: str | None = None) -> dict[str, Any]:
        return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}

    def opening(self) -> dict[str, Any] | None:
        """The echoed prompt, when ``echo`` was asked for."""
        return self._obj([self._choice(self._echo)]) if self._echo else None

    def piece(self, piece: str | ToolCall) -> dict[str, Any]:
        """A chunk of text (tool calls do not exist on this endpoint)."""
        text = piece if isinstance(piece, str) else ""
        return self._obj([self._choice(text)])

    def finish(self, reason: str, spec: SpeculativeStats) -> dict[str, Any]:
        """The chunk carrying ``finish_reason`` (and the ``speculative`` extension)."""
        return self._obj([self._choice("", reason)], speculative=speculative_json(spec))

    def usage(self, usage: Usage, spec: SpeculativeStats) -> dict[str, Any]:
        """The trailing usage chunk (``include_usage``): no choices."""
        return self._obj([], usage=_usage_json(usage), speculative=speculative_json(spec))

    def whole(
        self, text: str, calls: list[ToolCall], reason: str, usage: Usage, spec: SpeculativeStats
    ) -> dict[str, Any]:
        """The non-streaming ``text_completion`` object."""
        del calls
        body = self._obj([self._choice(self._echo + text, reason)])
        body.pop("usage", None)
        return {**body, "usage": _usage_json(usage), "speculative": speculative_json(spec)}


def tools_text(tools: list[ToolSchema]) -> str:
    """The tool schemas as text, for a token count of the prompt."""
    return json.dumps(tools) if tools else ""
