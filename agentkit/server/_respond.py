"""Turning one generation into a JSON response or an SSE stream."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from starlette.responses import JSONResponse, Response

from agentkit._messages import ToolCall, Usage
from agentkit._model import ModelEvent, SpeculativeStats
from agentkit.server._errors import error_from_exception
from agentkit.server._generation import Generation
from agentkit.server._sse import EventStreamResponse, sse_data
from agentkit.server._textstop import TextGuard

if TYPE_CHECKING:
    from agentkit.server._app import ServerState

__all__ = ["ResponseFormat", "respond"]


class ResponseFormat(Protocol):
    """The shapes of one endpoint's objects (see `agentkit.server._wire`)."""

    include_usage: bool

    def opening(self) -> dict[str, Any] | None:
        """The chunk sent before the first piece, if any."""
        ...

    def piece(self, piece: str | ToolCall) -> dict[str, Any]:
        """The chunk of one text piece or tool call."""
        ...

    def finish(self, reason: str, spec: SpeculativeStats) -> dict[str, Any]:
        """The chunk with ``finish_reason``."""
        ...

    def usage(self, usage: Usage, spec: SpeculativeStats) -> dict[str, Any]:
        """The trailing usage chunk."""
        ...

    def whole(
        self, text: str, calls: list[ToolCall], reason: str, usage: Usage, spec: SpeculativeStats
    ) -> dict[str, Any]:
        """The non-streaming response object."""
        ...


async def respond(
    state: ServerState,
    events: AsyncIterator[ModelEvent],
    guard: TextGuard,
    fmt: ResponseFormat,
    *,
    stream: bool,
    deadline: float | None,
    received: float,
    endpoint: str,
) -> Response:
    """Run the generation and answer; the admission place is held until it ends.

    For a stream, the first piece is awaited before the headers go out, so that a
    backend that fails at once (unavailable, prompt too long) still gets its
    proper HTTP status rather than a 200 with an error event.
    """
    metrics = state.metrics
    gen = Generation(
        events,
        guard=guard,
        deadline=deadline,
        grace_s=state.config.deadline_grace_s,
        metrics=metrics,
        received=received,
    )
    pieces = gen.pieces()

    def done(status: int) -> None:
        state.admission.release()
        metrics.requests.labels(endpoint, str(status)).inc()
        metrics.duration.observe(time.monotonic() - received)

    if not stream:
        try:
            async for _ in pieces:
                pass
        except Exception as exc:
            err = error_from_exception(exc)
            done(err.status)
            raise err from exc
        done(200)
        body = fmt.whole(gen.text, gen.tool_calls, gen.finish_reason, gen.usage, gen.speculative)
        return JSONResponse(body)
    try:
        first = await anext(pieces, None)
    except Exception as exc:
        err = error_from_exception(exc)
        done(err.status)
        raise err from exc

    async def close() -> None:
        await pieces.aclose()
        done(200)

    return EventStreamResponse(_sse_body(gen, pieces, first, fmt), on_close=close)


async def _sse_body(
    gen: Generation,
    pieces: AsyncGenerator[str | ToolCall],
    first: str | ToolCall | None,
    fmt: ResponseFormat,
) -> AsyncIterator[bytes]:
    opening = fmt.opening()
    if opening is not None:
        yield sse_data(opening)
    try:
        if first is not None:
            yield sse_data(fmt.piece(first))
            async for piece in pieces:
                yield sse_data(fmt.piece(piece))
    except Exception as exc:  # headers are gone: report in-band, as OpenAI does
        yield sse_data(error_from_exception(exc).body())
        yield sse_data("[DONE]")
        return
    yield sse_data(fmt.finish(gen.finish_reason, gen.speculative))
    if fmt.include_usage:
        yield sse_data(fmt.usage(gen.usage, gen.speculative))
    yield sse_data("[DONE]")
