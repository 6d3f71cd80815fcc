"""Turning one generation into a JSON response or an SSE stream."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from starlette.responses import JSONResponse, Response
from starlette.types import Receive

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


class _Ticket:
    """One admission place, given back exactly once (requests are counted by `RequestCounter`)."""

    def __init__(self, state: ServerState, endpoint: str, received: float) -> None:
        state.admission.acquire()
        self._state, self._endpoint, self._received = state, endpoint, received
        self._open = True

    def done(self, status: int) -> None:
        if not self._open:
            return
        self._open = False
        self._state.admission.release()
        self._state.metrics.duration.observe(time.monotonic() - self._received)


_WATCH_AFTER_S = 0.02
_CLIENT_GONE = 499  # nginx's "client closed request": cancelled before an answer


async def respond(
    state: ServerState,
    open_events: Callable[[], AsyncIterator[ModelEvent]],
    receive: Receive,
    guard: TextGuard,
    fmt: ResponseFormat,
    *,
    stream: bool,
    deadline: float | None,
    received: float,
    endpoint: str,
) -> Response:
    """Admit the request, run the generation and answer.

    The admission place is held until the generation ends, whatever way it
    ends (answer, error, cancellation, client gone). For a stream, the first
    piece is awaited before the headers go out, so that a backend that fails at
    once (unavailable, prompt too long, no free slot) still gets its proper HTTP
    status rather than a 200 with an error event.

    A client that goes away before the answer (or, streaming, before the first
    piece) cancels the generation at once, freeing the backend's slot.
    """
    ticket = _Ticket(state, endpoint, received)  # raises the 429 when full
    handed_over = False  # True once the SSE response owns the ticket
    try:
        gen = Generation(
            open_events(),
            guard=guard,
            deadline=deadline,
            grace_s=state.config.deadline_grace_s,
            metrics=state.metrics,
            received=received,
        )
        if not stream:
            return await _whole(gen, receive, fmt, ticket)
        response = await _streamed(gen, receive, fmt, ticket)
        handed_over = isinstance(response, EventStreamResponse)
        return response
    except Exception as exc:
        err = error_from_exception(exc, retry_after_s=state.config.retry_after_s)
        ticket.done(err.status)
        raise err from exc
    finally:
        if not handed_over:
            ticket.done(_CLIENT_GONE)  # no-op unless cancelled before an answer


async def _whole(
    gen: Generation, receive: Receive, fmt: ResponseFormat, ticket: _Ticket
) -> Response:
    pieces = gen.pieces()
    if not await _unless_disconnected(receive, lambda: _drain(pieces)):
        return Response(status_code=_CLIENT_GONE)
    ticket.done(200)
    body = fmt.whole(gen.text, gen.tool_calls, gen.finish_reason, gen.usage, gen.speculative)
    return JSONResponse(body)


async def _streamed(
    gen: Generation, receive: Receive, fmt: ResponseFormat, ticket: _Ticket
) -> Response:
    pieces = gen.pieces()
    primed: list[str | ToolCall | None] = []

    async def prime() -> None:
        primed.append(await anext(pieces, None))

    if not await _unless_disconnected(receive, prime):
        return Response(status_code=_CLIENT_GONE)

    async def close() -> None:
        await pieces.aclose()
        ticket.done(200)

    return EventStreamResponse(_sse_body(gen, pieces, primed[0], fmt), on_close=close)


async def _drain(pieces: AsyncGenerator[str | ToolCall]) -> None:
    async for _ in pieces:
        pass


async def _unless_disconnected(receive: Receive, work: Callable[[], Awaitable[None]]) -> bool:
    """Run ``work`` unless the client disconnects first; False if it did (work cancelled).

    The body has been read, so the next ASGI message can only be the disconnect.
    Watching starts after `_WATCH_AFTER_S`: arming uvicorn's receive costs more
    than a short request takes, and a disconnect noticed that late costs little.
    """
    finished = False
    error: Exception | None = None
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            await anyio.sleep(_WATCH_AFTER_S)
            while (await receive())["type"] != "http.disconnect":
                pass
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        try:
            await work()
            finished = True
        except Exception as exc:  # kept out of the task group's ExceptionGroup
            error = exc
        tg.cancel_scope.cancel()
    if error is not None:
        raise error
    return finished


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
