"""Test doubles shared by the server tests (imported by file name: prepend import mode)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence

from agentkit import Message, SamplingSettings
from agentkit._messages import ToolSchema
from agentkit._model import Model, ModelEvent, ModelResponse


class TrackedModel:
    """Wraps a `Model` and counts its open streams (the 'slot count' of a double)."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner
        self.open = 0
        self.closed = 0

    @property
    def name(self) -> str:
        return self.inner.name

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> ModelResponse:
        return await self.inner.complete(
            messages, tools=tools, settings=settings, deadline=deadline
        )

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[ModelEvent]:
        self.open += 1
        try:
            async for event in self.inner.stream(
                messages, tools=tools, settings=settings, deadline=deadline
            ):
                yield event
        finally:
            self.open -= 1
            self.closed += 1


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll ``predicate`` (tests only) until true or the timeout."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
