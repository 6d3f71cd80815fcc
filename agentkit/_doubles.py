"""Test doubles that implement `Model`: a scripted replay and a function model.

They are ordinary models, shipped with the SDK (as pydantic-ai ships
``TestModel``), so applications test their agents without a network or weights.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio

from agentkit._errors import UserError
from agentkit._messages import Message, ToolCall, ToolSchema, Usage
from agentkit._model import (
    FinishEvent,
    ModelEvent,
    ModelResponse,
    SamplingSettings,
    SpeculativeStats,
    StreamStatsEvent,
    TextDeltaEvent,
    ToolCallEvent,
    UsageEvent,
)

__all__ = ["FunctionModel", "ModelCall", "ScriptedModel"]

Reply = str | ToolCall | list[ToolCall] | ModelResponse | Exception


@dataclass(frozen=True)
class ModelCall:
    """What a double received in one call (for assertions in tests)."""

    messages: tuple[Message, ...]
    tools: tuple[ToolSchema, ...]
    settings: SamplingSettings
    deadline: float | None


def _to_response(
    reply: str | ToolCall | list[ToolCall] | ModelResponse, name: str
) -> ModelResponse:
    if isinstance(reply, ModelResponse):
        return reply
    if isinstance(reply, str):
        words = max(1, len(reply.split()))
        return ModelResponse(
            message=Message.assistant(reply), usage=Usage(completion_tokens=words), model=name
        )
    calls = [reply] if isinstance(reply, ToolCall) else list(reply)
    return ModelResponse(
        message=Message.assistant(None, calls), finish_reason="tool_calls", model=name
    )


def _chunks(text: str) -> list[str]:
    """Split text into word-sized deltas (whitespace kept), like a tokenizer would."""
    out: list[str] = []
    for i, word in enumerate(text.split(" ")):
        out.append(word if i == 0 else " " + word)
    return [c for c in out if c]


async def _events(
    response: ModelResponse, delay_s: float, deadline: float | None
) -> AsyncIterator[ModelEvent]:
    """Replay a response as events, pausing ``delay_s`` per delta, honouring ``deadline``."""
    emitted = 0
    for piece in _chunks(response.text):
        if delay_s:
            await anyio.sleep(delay_s)
        if deadline is not None and time.monotonic() >= deadline:
            yield FinishEvent(reason="deadline")
            return
        emitted += 1
        yield TextDeltaEvent(text=piece)
        if response.speculative is not None:
            yield StreamStatsEvent(stats=response.speculative, tokens=emitted)
    for call in response.tool_calls:
        yield ToolCallEvent(call=call)
    yield UsageEvent(usage=response.usage)
    stats = response.speculative or SpeculativeStats()
    yield StreamStatsEvent(stats=stats, tokens=emitted, final=True)
    yield FinishEvent(reason=response.finish_reason)


class _DoubleBase:
    """Shared plumbing: call recording, delays and the stream built on `complete`."""

    def __init__(self, name: str, delay_s: float) -> None:
        self._name = name
        self.delay_s = delay_s
        self.calls: list[ModelCall] = []

    @property
    def name(self) -> str:
        """The double's name, as shown in results."""
        return self._name

    def _record(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema],
        settings: SamplingSettings | None,
        deadline: float | None,
    ) -> ModelCall:
        call = ModelCall(tuple(messages), tuple(tools), settings or SamplingSettings(), deadline)
        self.calls.append(call)
        return call

    async def _reply(self, call: ModelCall) -> ModelResponse:
        raise NotImplementedError

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> ModelResponse:
        """Answer from the script or function; waits ``delay_s`` first."""
        call = self._record(messages, tools, settings, deadline)
        if self.delay_s:
            await anyio.sleep(self.delay_s)
        return await self._reply(call)

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """Stream the answer word by word; waits ``delay_s`` before each word."""
        call = self._record(messages, tools, settings, deadline)
        response = await self._reply(call)
        async for event in _events(response, self.delay_s, deadline):
            yield event


class ScriptedModel(_DoubleBase):
    """Replays a fixed script of replies, one per call.

    A reply is a string (assistant text), a `ToolCall` or list of them, a full
    `ModelResponse`, or an exception instance to raise (to test fallbacks).

    Example:
        >>> import anyio
        >>> from agentkit import Message, ScriptedModel
        >>> model = ScriptedModel(["Hello!"])
        >>> anyio.run(lambda: model.complete([Message.user("hi")])).text
        'Hello!'
    """

    def __init__(self, script: Sequence[Reply], *, name: str = "scripted", delay_s: float = 0.0):
        super().__init__(name, delay_s)
        self._script = list(script)

    @property
    def remaining(self) -> int:
        """Replies not yet used."""
        return len(self._script)

    async def _reply(self, call: ModelCall) -> ModelResponse:
        if not self._script:
            raise UserError(f"ScriptedModel {self.name!r} ran out of replies")
        reply = self._script.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return _to_response(reply, self.name)


ReplyFn = Callable[[ModelCall], Reply | Awaitable[Reply]]


class FunctionModel(_DoubleBase):
    """Answers by calling a function of the `ModelCall` (sync or async).

    Example:
        >>> import anyio
        >>> from agentkit import FunctionModel, Message
        >>> echo = FunctionModel(lambda call: call.messages[-1].content or "")
        >>> anyio.run(lambda: echo.complete([Message.user("ping")])).text
        'ping'
    """

    def __init__(self, fn: ReplyFn, *, name: str = "function", delay_s: float = 0.0) -> None:
        super().__init__(name, delay_s)
        self._fn = fn

    async def _reply(self, call: ModelCall) -> ModelResponse:
        reply = self._fn(call)
        if inspect.isawaitable(reply):
            reply = await reply
        if isinstance(reply, Exception):
            raise reply
        return _to_response(reply, self.name)
