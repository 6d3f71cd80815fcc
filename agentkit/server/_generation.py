"""One backend generation as the server consumes it, and bounded admission.

`Generation` turns a backend's event stream into text pieces and tool calls,
enforcing (again) stop strings, the FIM suffix cut and the deadline, recording
metrics, and always closing the backend's iterator: on normal end, on a stop,
on the deadline and when the client disconnects (the enclosing task is
cancelled), so that the backend frees its slot at once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import suppress

import anyio

from agentkit._messages import ToolCall, Usage
from agentkit._model import (
    FinishEvent,
    FinishReason,
    LogprobEntry,
    ModelEvent,
    SpeculativeStats,
    StreamStatsEvent,
    TextDeltaEvent,
    ToolCallEvent,
    UsageEvent,
)
from agentkit.server._errors import APIError
from agentkit.server._logprobs import LogprobRelease
from agentkit.server._metrics import ServerMetrics
from agentkit.server._textstop import TextGuard

__all__ = ["Admission", "Generation"]

_CLOSE_TIMEOUT_S = 5.0  # a backend that cannot close in this long is leaking anyway


class Admission:
    """A bounded count of in-flight requests; the excess is refused with 429 at once.

    Refusing beats queueing without bound: a client told ``Retry-After`` can go
    to another replica, while an unbounded queue only turns load into latency.
    """

    def __init__(self, capacity: int, metrics: ServerMetrics, retry_after_s: int) -> None:
        self.capacity = capacity
        self.in_flight = 0
        self._metrics = metrics
        self._retry_after = str(retry_after_s)

    def acquire(self) -> None:
        """Take a place or raise a 429 `APIError` when all ``capacity`` are taken."""
        if self.in_flight >= self.capacity:
            raise APIError(
                429,
                f"server busy: {self.capacity} requests in flight; retry later",
                code="queue_full",
                headers={"Retry-After": self._retry_after},
            )
        self.in_flight += 1
        self._metrics.in_flight.set(self.in_flight)

    def release(self) -> None:
        """Give a place back."""
        self.in_flight -= 1
        self._metrics.in_flight.set(self.in_flight)


class Generation:
    """Consumes one backend event stream; read the outcome after `pieces` ends.

    Attributes:
        tool_calls: Tool calls the model made.
        finish_reason: Why generation ended (``deadline`` when the deadline cut it).
        usage: Token usage (completion tokens counted from deltas if unreported).
        speculative: The final speculative statistics (zeros when none).
        index: The choice this generation answers (``n`` > 1: 0 .. n - 1).
    """

    def __init__(
        self,
        events: AsyncIterator[ModelEvent],
        *,
        guard: TextGuard,
        deadline: float | None,
        grace_s: float,
        metrics: ServerMetrics,
        received: float,
        index: int = 0,
    ) -> None:
        self.index = index
        self._events = events
        self._guard = guard
        self._deadline = None if deadline is None else deadline + grace_s
        self._metrics = metrics
        self._received = received
        self._last_token: float | None = None
        self._deltas = 0
        self.tool_calls: list[ToolCall] = []
        self.finish_reason: FinishReason = "stop"
        self.usage = Usage()
        self.speculative = SpeculativeStats()
        self._logprobs = LogprobRelease()

    @property
    def text(self) -> str:
        """All text released to the client."""
        return self._guard.text

    @property
    def logprobs(self) -> list[LogprobEntry] | None:
        """Entries of the tokens behind the released text (None: the backend reported none)."""
        return self._logprobs.released if self._logprobs.reported else None

    def take_logprobs(self) -> list[LogprobEntry] | None:
        """Entries released with the pieces since the last call (for a streamed chunk)."""
        return self._logprobs.take()

    async def pieces(self) -> AsyncGenerator[str | ToolCall]:
        """Text pieces and tool calls, in order, as they become safe to send."""
        self._metrics.queue_depth.inc()
        try:
            async for piece in self._consume():
                yield piece
            tail = self._guard.flush()
            self._logprobs.release(self._guard.released)
            if tail:
                yield tail
        finally:
            await self._close()

    async def _consume(self) -> AsyncIterator[str | ToolCall]:
        while (event := await self._next()) is not None:
            if isinstance(event, TextDeltaEvent):
                if event.text:  # a last delta may hold only the logprobs of cut tokens
                    self._mark_token()
                self._logprobs.received(event.text, event.logprobs)
                out = self._guard.feed(event.text)
                self._logprobs.release(self._guard.released)
                if out:
                    yield out
                if self._guard.stopped:
                    self.finish_reason = "stop"
                    return
            elif isinstance(event, ToolCallEvent):
                self._mark_token()
                self.tool_calls.append(event.call)
                yield event.call
            elif isinstance(event, UsageEvent):
                self.usage = event.usage
            elif isinstance(event, StreamStatsEvent):
                self.speculative = event.stats
            elif isinstance(event, FinishEvent):
                self.finish_reason = event.reason
                return

    async def _next(self) -> ModelEvent | None:
        if self._deadline is None:
            with suppress(StopAsyncIteration):
                return await anext(self._events)
            return None
        with anyio.move_on_after(max(0.0, self._deadline - time.monotonic())):
            with suppress(StopAsyncIteration):
                return await anext(self._events)
            return None
        self.finish_reason = "deadline"  # the backend overran its deadline: cut here
        return None

    def _mark_token(self) -> None:
        now = time.monotonic()
        if self._last_token is None:
            self._metrics.ttft.observe(now - self._received)
            self._metrics.queue_depth.dec()
            self._metrics.batch_size.inc()
        else:
            self._metrics.itl.observe(now - self._last_token)
        self._last_token = now
        self._deltas += 1

    async def _close(self) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT_S):
            aclose = getattr(self._events, "aclose", None)
            if aclose is not None:
                await aclose()
        if self._last_token is None:
            self._metrics.queue_depth.dec()
        else:
            self._metrics.batch_size.dec()
        if self.tool_calls and self.finish_reason == "stop":
            self.finish_reason = "tool_calls"
        if self.usage.completion_tokens == 0 and self._deltas:
            self.usage = Usage(
                prompt_tokens=self.usage.prompt_tokens, completion_tokens=self._deltas
            )
        self._metrics.record_tokens(self.usage.completion_tokens)
        self._metrics.record_speculative(self.speculative)
