"""One scheduled request: its state on the driver side and its event stream on the caller's."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import anyio
import anyio.from_thread
import anyio.lowlevel
from tokenizers import Tokenizer

from engine._sequence import Sequence
from engine._structured import JsonConstraint
from engine._types import GenerationResult, SamplingParams, StreamEvent
from engine.speculative._state import SpecState

__all__ = ["Request", "RequestStream"]


@dataclass(eq=False)
class Request:
    """A request from submission to its result (driver-side state).

    Attributes:
        ids: prompt token ids.
        params: sampling parameters.
        deadline: absolute ``time.monotonic()`` deadline, or None.
        priority: larger runs first among waiting requests.
        arrival: submission time.
        virtual_deadline: its rank among waiting requests (see `AdmissionQueue`).
        urgent: latency-sensitive (short expected output or a tight deadline):
            while one decodes, decode rows are capped (`SchedulerConfig.urgent_decode_rows`).
        constraint: JSON-schema constraint built at submission, if any.
        seq: the decoding state once admitted.
        spec: speculative state (None when speculation is off).
        prefilled: prompt tokens whose K/V are in the cache.
        reused: prompt tokens that came from the prefix cache.
        steps: decode target steps so far.
        admitted_at, first_at: when it got a slot / its first token.
        sent: output tokens already reported in a `TextDelta`.
        stats_at: ``steps`` at the last `StatsEvent`.
        ended_step: the scheduler step after which its slot was released.
        stats_every: decode steps between `StatsEvent` snapshots (0: none).
        stop_reason: set by `Scheduler.stop`: end with this finish reason.
        cancelled: the caller stopped listening.
        done: its result (or error) was posted, or it was dropped.
    """

    ids: list[int]
    params: SamplingParams
    deadline: float | None
    priority: int
    arrival: float
    virtual_deadline: float = 0.0
    urgent: bool = False
    constraint: JsonConstraint | None = None
    seq: Sequence | None = None
    spec: SpecState | None = None
    prefilled: int = 0
    reused: int = 0
    steps: int = 0
    admitted_at: float = 0.0
    first_at: float | None = None
    sent: int = 0
    stats_at: int = 0
    ended_step: int = -1
    stats_every: int = 0
    stop_reason: str | None = None
    cancelled: bool = False
    done: bool = False
    events: deque[StreamEvent | BaseException] = field(default_factory=deque)
    waker: tuple[anyio.lowlevel.EventLoopToken, anyio.Event] | None = None

    def new_sequence(self, slot: int, tokenizer: Tokenizer, eos_ids: Iterable[int]) -> Sequence:
        """This request's decoding state in ``slot`` (see `Sequence.start`)."""
        return Sequence.start(slot, self.ids, self.params, tokenizer, eos_ids, self.constraint)

    def post(self, item: StreamEvent | BaseException) -> None:
        """Queue an event (or the error to raise) for the caller and wake it (any thread)."""
        self.events.append(item)
        w = self.waker
        if w is None:
            return
        token, event = w
        native = token.native_token
        try:
            if isinstance(native, asyncio.AbstractEventLoop):
                native.call_soon_threadsafe(event.set)
            else:  # another anyio backend: a blocking hop, rare
                anyio.from_thread.run_sync(event.set, token=token)
        except RuntimeError:  # the caller's loop is closed: nobody is listening
            pass


class RequestStream:
    """The caller's async iterator over a request's events.

    Yields `TextDelta` and `StatsEvent` items, then one `GenerationResult`;
    raises the request's error instead if it could not run (e.g.
    `DeadlineError` while queued). ``aclose()`` (or leaving an ``aclosing``
    block) cancels the request and frees its slot at the next step boundary
    (at once when no step is running).

    Args:
        request: the scheduled request.
        cancel: the scheduler's cancel callback.
        stop: the scheduler's stop callback (end with a result).
        stop_on: an event that, once set, stops the request with
            finish_reason "cancelled" (its result is still delivered).
    """

    def __init__(
        self,
        request: Request,
        cancel: Callable[[Request], None],
        stop: Callable[[Request], None] | None = None,
        stop_on: anyio.Event | None = None,
    ) -> None:
        """Wrap ``request``; when ``stop_on`` is set, call ``stop`` (checked every 20 ms)."""
        self.request = request
        self._cancel = cancel
        self._stop = stop
        self._stop_on = stop_on
        self._finished = False

    def __aiter__(self) -> RequestStream:
        """This stream."""
        return self

    async def __anext__(self) -> StreamEvent:
        """The next event, waiting for the driver if none is queued."""
        req = self.request
        while True:
            if self._finished:
                raise StopAsyncIteration
            event = anyio.Event()
            req.waker = (anyio.lowlevel.current_token(), event)  # before the check: no lost wakeup
            if req.events:
                item = req.events.popleft()
                if isinstance(item, BaseException):
                    self._finished = True
                    raise item
                if isinstance(item, GenerationResult):
                    self._finished = True
                return item
            if self._stop_on is None:
                await event.wait()
                continue
            if self._stop_on.is_set() and self._stop is not None:
                self._stop(req)  # the result (finish_reason "cancelled") follows
                self._stop_on = None
                continue
            with anyio.move_on_after(0.02):
                await event.wait()

    async def aclose(self) -> None:
        """Stop listening: cancel the request if it has not finished."""
        self._finished = True
        self._cancel(self.request)
