"""Turning a request's generations (one per choice) into a JSON response or an SSE stream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

import anyio
from starlette.responses import JSONResponse, Response
from starlette.types import Receive

from agentkit._messages import ToolCall, Usage
from agentkit._model import LogprobEntry, ModelEvent, SpeculativeStats
from agentkit.server._choices import ChoiceStream, Piece, total_speculative, total_usage
from agentkit.server._errors import error_from_exception
from agentkit.server._generation import Generation
from agentkit.server._sse import EventStreamResponse, sse_data
from agentkit.server._state import ServerState
from agentkit.server._textstop import TextGuard
from agentkit.server._wire import ChoiceOutcome

__all__ = ["ResponseFormat", "respond"]


class ResponseFormat(Protocol):
    """The shapes of one endpoint's objects (see `agentkit.server._wire`)."""

    include_usage: bool

    def opening(self, index: int) -> dict[str, Any] | None:
        """The chunk sent for choice ``index`` before the first piece, if any."""
        ...

    def piece(
        self, index: int, piece: str | ToolCall, logprobs: list[LogprobEntry] | None
    ) -> dict[str, Any]:
        """The chunk of one text piece (with its tokens' logprobs) or tool call."""
        ...

    def finish(self, index: int, reason: str, spec: SpeculativeStats) -> dict[str, Any]:
        """The chunk with a choice's ``finish_reason``."""
        ...

    def usage(self, usage: Usage, spec: SpeculativeStats) -> dict[str, Any]:
        """The trailing usage chunk."""
        ...

    def whole(
        self, choices: Sequence[ChoiceOutcome], usage: Usage, spec: SpeculativeStats
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
    open_choice: Callable[[int], AsyncIterator[ModelEvent]],
    receive: Receive,
    guard: Callable[[], TextGuard],
    fmt: ResponseFormat,
    *,
    n: int = 1,
    stream: bool,
    deadline: float | None,
    received: float,
    endpoint: str,
) -> Response:
    """Admit the request, run its ``n`` generations and answer.

    ``open_choice(i)`` opens choice ``i``'s backend events and ``guard()``
    makes each choice's stop guard. The admission place (one per request,
    whatever ``n``) is held until every generation ends, whatever way it ends
    (answer, error, cancellation, client gone). For a stream, the first piece
    is awaited before the headers go out, so that a backend that fails at
    once (unavailable, prompt too long, no free slot) still gets its proper
    HTTP status rather than a 200 with an error event.

    A client that goes away before the answer (or, streaming, before the first
    piece) cancels the generations at once, freeing the backend's slots.
    """
    ticket = _Ticket(state, endpoint, received)  # raises the 429 when full
    handed_over = False  # True once the SSE response owns the ticket
    gens = [
        Generation(
            open_choice(i),
            guard=guard(),
            deadline=deadline,
            grace_s=state.config.deadline_grace_s,
            metrics=state.metrics,
            received=received,
            index=i,
        )
        for i in range(n)
    ]
    choices = ChoiceStream(gens)
    try:
        if not stream:
            return await _whole(choices, receive, fmt, ticket)
        response = await _streamed(choices, receive, fmt, ticket)
        handed_over = isinstance(response, EventStreamResponse)
        return response
    except Exception as exc:
        err = error_from_exception(exc, retry_after_s=state.config.retry_after_s)
        ticket.done(err.status)
        raise err from exc
    finally:
        if not handed_over:
            await choices.aclose()  # every generation closed (a no-op for finished ones)
            ticket.done(_CLIENT_GONE)  # no-op unless cancelled before an answer


async def _whole(
    choices: ChoiceStream, receive: Receive, fmt: ResponseFormat, ticket: _Ticket
) -> Response:
    if not await _unless_disconnected(receive, lambda: _drain(choices)):
        return Response(status_code=_CLIENT_GONE)
    ticket.done(200)
    gens = choices.gens
    body = fmt.whole(gens, total_usage(gens), total_speculative(gens))
    return JSONResponse(body)


async def _streamed(
    choices: ChoiceStream, receive: Receive, fmt: ResponseFormat, ticket: _Ticket
) -> Response:
    primed: list[tuple[int, Piece | None]] = []

    async def prime() -> None:
        primed.append(await anext(choices, (0, None)))

    if not await _unless_disconnected(receive, prime):
        return Response(status_code=_CLIENT_GONE)

    async def close() -> None:
        await choices.aclose()
        ticket.done(200)

    return EventStreamResponse(_sse_body(choices, primed[0], fmt), on_close=close)


async def _drain(choices: ChoiceStream) -> None:
    async for _ in choices:
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
    choices: ChoiceStream, first: tuple[int, Piece | None], fmt: ResponseFormat
) -> AsyncIterator[bytes]:
    gens: list[Generation] = choices.gens
    for gen in gens:
        opening = fmt.opening(gen.index)
        if opening is not None:
            yield sse_data(opening)
    item: tuple[int, Piece | None] | None = first
    try:
        while item is not None:
            index, piece = item
            gen = gens[index]
            if piece is None:  # the choice has ended: its outcome is final
                yield sse_data(fmt.finish(index, gen.finish_reason, gen.speculative))
            else:
                yield sse_data(fmt.piece(index, piece, gen.take_logprobs()))
            item = await anext(choices, None)
    except Exception as exc:  # headers are gone: report in-band, as OpenAI does
        yield sse_data(error_from_exception(exc).body())
        yield sse_data("[DONE]")
        return
    if fmt.include_usage:
        yield sse_data(fmt.usage(total_usage(gens), total_speculative(gens)))
    yield sse_data("[DONE]")
