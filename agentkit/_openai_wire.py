"""The chat-completions wire format: request bodies, responses, SSE chunks, tool-call fragments.

Pure functions and one accumulator, no I/O, so that `OpenAIModel` stays about
transport and resilience. Anything not shaped as expected raises
`ModelProtocolError` with the backend's name and a short excerpt.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentkit._errors import ModelProtocolError
from agentkit._messages import Message, ToolCall, ToolSchema, Usage
from agentkit._model import (
    FinishEvent,
    FinishReason,
    ModelEvent,
    ModelResponse,
    SamplingSettings,
    SpeculativeStats,
    StreamStatsEvent,
    TextDeltaEvent,
    ToolCallEvent,
    UsageEvent,
)

__all__ = [
    "MAX_TOOL_CALLS",
    "SSEState",
    "ToolCallAccumulator",
    "build_body",
    "encode_body",
    "finish_reason",
    "parse_completion",
    "parse_json",
    "parse_retry_after",
    "response_events",
    "speculative",
    "usage",
]

MAX_TOOL_CALLS = 128  # distinct tool calls in one message; more is a hostile stream
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "deadline": "deadline",
    "content_filter": "content_filter",
    "cancelled": "cancelled",
}


def build_body(
    model: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSchema],
    settings: SamplingSettings,
    *,
    stream: bool,
) -> dict[str, Any]:
    """A chat-completions request body (``deadline_ms`` is added per attempt)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [m.to_openai() for m in messages],
        "stream": stream,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "max_tokens": settings.max_tokens,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    if settings.stop:
        body["stop"] = list(settings.stop)
    if settings.seed is not None:
        body["seed"] = settings.seed
    if tools:
        body["tools"] = list(tools)
        if settings.tool_choice != "auto":
            body["tool_choice"] = settings.tool_choice
    if settings.json_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": settings.json_schema},
        }
    return body


def encode_body(body: dict[str, Any]) -> bytes:
    """A request body as UTF-8 JSON; lone surrogates (a tool's output, say) become U+FFFD.

    httpx's ``json=`` raises `UnicodeEncodeError` on them. Replacing them only
    touches string contents: JSON's own syntax holds no surrogates.
    """
    text = json.dumps(body, ensure_ascii=False, allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        units = text.encode("utf-16-le", "surrogatepass")
        return units.decode("utf-16-le", "replace").encode("utf-8")


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str | bytes, backend: str) -> dict[str, Any]:
    """Parse a JSON object; an HTML page or anything else raises `ModelProtocolError`.

    Strict JSON: ``NaN`` and ``Infinity`` (which Python's parser accepts) are
    refused, and nesting too deep to parse is malformed, not a `RecursionError`.
    """
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    if raw.lstrip()[:1] == "<":
        raise ModelProtocolError(f"HTML page instead of JSON: {raw[:120]!r}", backend=backend)
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ModelProtocolError(f"malformed JSON ({exc}): {raw[:120]!r}", backend=backend) from exc
    if not isinstance(value, dict):
        raise ModelProtocolError(f"expected a JSON object: {raw[:120]!r}", backend=backend)
    return value


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def finish_reason(value: object) -> FinishReason | None:
    """Our finish reason for a wire value (unknown values count as ``stop``)."""
    if value is None:
        return None
    return _FINISH.get(str(value), "stop")


def usage(value: object) -> Usage | None:
    """Usage from a response's ``usage`` object, if well-formed."""
    if not isinstance(value, dict):
        return None
    try:
        return Usage(
            prompt_tokens=int(value.get("prompt_tokens") or 0),
            completion_tokens=int(value.get("completion_tokens") or 0),
        )
    except (TypeError, ValueError, OverflowError):
        return None


def speculative(value: object) -> SpeculativeStats | None:
    """The ``speculative`` extension field (our server, vLLM-like), if present and valid."""
    if not isinstance(value, dict):
        return None
    try:
        return SpeculativeStats.model_validate(value)
    except ValueError:
        return None


def _tool_calls(raw: object, backend: str) -> list[ToolCall]:
    if not raw:
        return []
    if not isinstance(raw, list):
        raise ModelProtocolError("tool_calls is not a list", backend=backend)
    calls = []
    for i, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ModelProtocolError(f"tool call {i} has no function name", backend=backend)
        arguments = _arguments(function.get("arguments")) or "{}"
        calls.append(ToolCall.of(str(item.get("id") or f"call_{i}"), function["name"], arguments))
    return calls


def _arguments(value: object) -> str:
    """Tool-call arguments as sent (a string, kept verbatim even if not JSON); objects dumped."""
    if value is None or isinstance(value, str):
        return value or ""
    return json.dumps(value)


def _field(obj: dict[str, Any], key: str, kind: type, backend: str) -> Any:
    """``obj[key]`` if it is a ``kind`` or missing/null (then None); else `ModelProtocolError`."""
    value = obj.get(key)
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise ModelProtocolError(
        f"{key} is a {type(value).__name__}, not a {kind.__name__}", backend=backend
    )


def parse_completion(data: dict[str, Any], backend: str, model: str) -> ModelResponse:
    """A non-streamed chat-completions response as a `ModelResponse`."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ModelProtocolError(f"no choices in response: {str(data)[:120]}", backend=backend)
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise ModelProtocolError("choice has no message", backend=backend)
    content = message.get("content")
    calls = _tool_calls(message.get("tool_calls"), backend)
    return ModelResponse(
        message=Message.assistant(content if isinstance(content, str) else None, calls or None),
        finish_reason=finish_reason(choices[0].get("finish_reason"))
        or ("tool_calls" if calls else "stop"),
        usage=usage(data.get("usage")) or Usage(),
        speculative=speculative(data.get("speculative")),
        model=str(data.get("model") or model),
    )


@dataclass
class _Fragment:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class ToolCallAccumulator:
    """Joins streamed tool-call fragments (by ``index``) into complete `ToolCall`s."""

    _calls: dict[int, _Fragment] = field(default_factory=dict)

    def add(self, deltas: object, backend: str) -> None:
        """Add one chunk's ``delta.tool_calls``; a malformed one raises `ModelProtocolError`."""
        if not isinstance(deltas, list):
            raise ModelProtocolError("delta.tool_calls is not a list", backend=backend)
        for position, delta in enumerate(deltas):
            if not isinstance(delta, dict):
                raise ModelProtocolError("tool call delta is not an object", backend=backend)
            index = _field(delta, "index", int, backend)
            index = position if index is None else index
            if index not in self._calls and not (
                0 <= index < MAX_TOOL_CALLS and len(self._calls) < MAX_TOOL_CALLS
            ):
                raise ModelProtocolError(f"tool call index {index} out of range", backend=backend)
            frag = self._calls.setdefault(index, _Fragment())
            frag.id = _field(delta, "id", str, backend) or frag.id
            function = _field(delta, "function", dict, backend) or {}
            frag.name += _field(function, "name", str, backend) or ""
            frag.arguments.append(_arguments(function.get("arguments")))

    def calls(self) -> list[ToolCall]:
        """The complete calls, in index order."""
        return [
            ToolCall.of(f.id or f"call_{i}", f.name, "".join(f.arguments) or "{}")
            for i, f in sorted(self._calls.items())
        ]


@dataclass
class SSEState:
    """What a stream has told so far."""

    tokens: int = 0
    seen: bool = False
    done: bool = False
    finish: FinishReason | None = None
    usage: Usage | None = None
    spec: SpeculativeStats | None = None

    def chunk(
        self, chunk: dict[str, Any], acc: ToolCallAccumulator, backend: str
    ) -> list[ModelEvent]:
        """The events of one chunk; updates the state."""
        if "error" in chunk:
            raise ModelProtocolError(
                f"error in stream: {str(chunk['error'])[:200]}", backend=backend
            )
        events: list[ModelEvent] = []
        self.usage = usage(chunk.get("usage")) or self.usage
        for choice in _field(chunk, "choices", list, backend) or ():
            if not isinstance(choice, dict):
                raise ModelProtocolError("choice is not an object", backend=backend)
            delta = _field(choice, "delta", dict, backend) or {}
            content = delta.get("content")
            if isinstance(content, str) and content:
                self.tokens += 1
                events.append(TextDeltaEvent(text=content))
            if delta.get("tool_calls"):
                acc.add(delta["tool_calls"], backend)
            self.finish = finish_reason(choice.get("finish_reason")) or self.finish
        spec = speculative(chunk.get("speculative"))
        if spec is not None:
            self.spec = spec
            events.append(StreamStatsEvent(stats=spec, tokens=self.tokens))
        return events


def response_events(response: ModelResponse) -> list[ModelEvent]:
    """A whole response replayed as stream events."""
    events: list[ModelEvent] = []
    if response.text:
        events.append(TextDeltaEvent(text=response.text))
    events.extend(ToolCallEvent(call=c) for c in response.tool_calls)
    events.append(UsageEvent(usage=response.usage))
    if response.speculative is not None:
        events.append(StreamStatsEvent(stats=response.speculative, final=True))
    events.append(FinishEvent(reason=response.finish_reason))
    return events
