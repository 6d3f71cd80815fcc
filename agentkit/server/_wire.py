"""Request → agentkit conversion and OpenAI response/chunk shapes for both endpoints."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from agentkit._messages import Message, ToolCall, ToolSchema, Usage
from agentkit._model import LogprobEntry, SamplingSettings, SpeculativeStats
from agentkit.server._errors import APIError
from agentkit.server._logprobs import TextOffsets, chat_logprobs, completion_logprobs
from agentkit.server._schemas import ChatCompletionRequest, ChatMessageIn, CompletionRequest

__all__ = [
    "MAX_STOP_CHARS",
    "ChatFormat",
    "ChoiceOutcome",
    "CompletionFormat",
    "Exchange",
    "requested_logprobs",
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


def requested_logprobs(req: ChatCompletionRequest | CompletionRequest) -> int | None:
    """Alternatives per token the request asks for (0: the chosen token only); None: no logprobs.

    Chat: ``logprobs: true`` with ``top_logprobs`` (0-20), which needs ``logprobs``.
    Completions: ``logprobs`` (0-5); not with ``echo``, since the prompt's own
    tokens get no log-probabilities here.
    """
    if isinstance(req, ChatCompletionRequest):
        if req.top_logprobs is not None and not req.logprobs:
            msg = "Invalid value for 'top_logprobs': 'logprobs' must be true when it is set"
            raise APIError(400, msg, param="top_logprobs")
        return (req.top_logprobs or 0) if req.logprobs else None
    if req.logprobs is not None and req.echo:
        msg = "echo with logprobs is not supported: the prompt's tokens get no log-probabilities"
        raise APIError(400, msg, param="echo")
    return req.logprobs


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
            top_logprobs=requested_logprobs(req),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise APIError(400, f"{param}: {first['msg']}", param=param) from exc


class ChoiceOutcome(Protocol):
    """What a response reports of one choice (`agentkit.server._generation.Generation`)."""

    @property
    def index(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def tool_calls(self) -> list[ToolCall]: ...
    @property
    def finish_reason(self) -> str: ...
    @property
    def logprobs(self) -> list[LogprobEntry] | None: ...


class ChatFormat:
    """Shapes of ``chat.completion`` and ``chat.completion.chunk`` objects.

    ``logprobs``: the request asked for them; each choice then carries its
    ``logprobs`` object (null when the backend reports none), else null.
    """

    def __init__(self, ex: Exchange, include_usage: bool, logprobs: bool = False) -> None:
        self._ex = ex
        self.include_usage = include_usage
        self._logprobs = logprobs
        self._tool_index: dict[int, int] = {}

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

    def _delta(
        self,
        index: int,
        delta: dict[str, Any],
        finish: str | None = None,
        logprobs: list[LogprobEntry] | None = None,
    ) -> dict[str, Any]:
        shown = chat_logprobs(logprobs) if self._logprobs else None
        return {"index": index, "delta": delta, "logprobs": shown, "finish_reason": finish}

    def opening(self, index: int) -> dict[str, Any] | None:
        """Choice ``index``'s first chunk: the assistant role."""
        return self._chunk([self._delta(index, {"role": "assistant", "content": ""})])

    def piece(
        self, index: int, piece: str | ToolCall, logprobs: list[LogprobEntry] | None = None
    ) -> dict[str, Any]:
        """A chunk with a text delta (and its tokens' logprobs) or one whole tool call."""
        if isinstance(piece, str):
            return self._chunk([self._delta(index, {"content": piece}, None, logprobs)])
        call = {"index": self._tool_index.get(index, 0), **piece.model_dump()}
        self._tool_index[index] = call["index"] + 1
        return self._chunk([self._delta(index, {"tool_calls": [call]})])

    def finish(self, index: int, reason: str, spec: SpeculativeStats) -> dict[str, Any]:
        """The chunk carrying a choice's ``finish_reason`` (and its ``speculative`` extension)."""
        return self._chunk([self._delta(index, {}, reason)], speculative=speculative_json(spec))

    def usage(self, usage: Usage, spec: SpeculativeStats) -> dict[str, Any]:
        """The trailing usage chunk (``include_usage``): no choices."""
        return self._chunk([], usage=_usage_json(usage), speculative=speculative_json(spec))

    def _choice(self, c: ChoiceOutcome) -> dict[str, Any]:
        calls = c.tool_calls
        message: dict[str, Any] = {
            "role": "assistant",
            "content": c.text or (None if calls else ""),
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = [call.model_dump() for call in calls]
        shown = chat_logprobs(c.logprobs) if self._logprobs else None
        return {
            "index": c.index,
            "message": message,
            "logprobs": shown,
            "finish_reason": c.finish_reason,
        }

    def whole(
        self, choices: Sequence[ChoiceOutcome], usage: Usage, spec: SpeculativeStats
    ) -> dict[str, Any]:
        """The non-streaming ``chat.completion`` object."""
        return {
            "id": self._ex.id,
            "object": "chat.completion",
            "created": self._ex.created,
            "model": self._ex.model,
            "system_fingerprint": None,
            "choices": [self._choice(c) for c in choices],
            "usage": _usage_json(usage),
            "speculative": speculative_json(spec),
        }


class CompletionFormat:
    """Shapes of ``text_completion`` objects, whole and streamed.

    ``logprobs``: the request asked for them (``logprobs`` set, 0 included).
    """

    def __init__(
        self, ex: Exchange, include_usage: bool, echo: str = "", logprobs: bool = False
    ) -> None:
        self._ex = ex
        self.include_usage = include_usage
        self._echo = echo
        self._logprobs = logprobs
        self._offsets: dict[int, TextOffsets] = {}

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

    def _choice(
        self,
        index: int,
        text: str,
        finish: str | None = None,
        logprobs: list[LogprobEntry] | None = None,
    ) -> dict[str, Any]:
        shown = None
        if self._logprobs:
            offsets = self._offsets.setdefault(index, TextOffsets())
            shown = completion_logprobs(logprobs, offsets)
        return {"text": text, "index": index, "logprobs": shown, "finish_reason": finish}

    def opening(self, index: int) -> dict[str, Any] | None:
        """The echoed prompt, when ``echo`` was asked for."""
        return self._obj([self._choice(index, self._echo)]) if self._echo else None

    def piece(
        self, index: int, piece: str | ToolCall, logprobs: list[LogprobEntry] | None = None
    ) -> dict[str, Any]:
        """A chunk of text and its tokens' logprobs (tool calls do not exist on this endpoint)."""
        text = piece if isinstance(piece, str) else ""
        return self._obj([self._choice(index, text, None, logprobs)])

    def finish(self, index: int, reason: str, spec: SpeculativeStats) -> dict[str, Any]:
        """The chunk carrying a choice's ``finish_reason`` (and its ``speculative`` extension)."""
        return self._obj([self._choice(index, "", reason)], speculative=speculative_json(spec))

    def usage(self, usage: Usage, spec: SpeculativeStats) -> dict[str, Any]:
        """The trailing usage chunk (``include_usage``): no choices."""
        return self._obj([], usage=_usage_json(usage), speculative=speculative_json(spec))

    def whole(
        self, choices: Sequence[ChoiceOutcome], usage: Usage, spec: SpeculativeStats
    ) -> dict[str, Any]:
        """The non-streaming ``text_completion`` object."""
        body = self._obj(
            [
                self._choice(c.index, self._echo + c.text, c.finish_reason, c.logprobs)
                for c in choices
            ]
        )
        body.pop("usage", None)
        return {**body, "usage": _usage_json(usage), "speculative": speculative_json(spec)}


def tools_text(tools: list[ToolSchema]) -> str:
    """The tool schemas as text, for a token count of the prompt."""
    return json.dumps(tools) if tools else ""
