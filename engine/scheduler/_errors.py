"""Typed admission errors of the scheduler.

`QueueFullError` and `DeadlineError` are `engine.CapacityError`s: both say the
engine is too busy to take the request now, so callers (and the HTTP server,
which answers 429 with ``Retry-After``) handle them as they handle a full
slot table. `SchedulerClosedError` is an `engine.EngineClosedError` (HTTP 503).
"""

from __future__ import annotations

from engine._errors import CapacityError, EngineClosedError

__all__ = ["DeadlineError", "QueueFullError", "SchedulerClosedError"]


class QueueFullError(CapacityError):
    """The waiting queue is full: the request was not accepted (retry later, HTTP 429/503).

    Attributes:
        max_queue: the queue's bound.
    """

    def __init__(self, message: str, *, max_queue: int) -> None:
        super().__init__(message)
        self.max_queue = max_queue


class DeadlineError(CapacityError):
    """The request cannot start before its deadline (rejected at admission or while queued).

    A request that started and then ran out of time is not an error: it ends
    with ``finish_reason == "deadline"`` and the text it has.

    Attributes:
        estimated_start_s: seconds from submission to the estimated start (0 if unknown).
    """

    def __init__(self, message: str, *, estimated_start_s: float = 0.0) -> None:
        super().__init__(message)
        self.estimated_start_s = estimated_start_s


class SchedulerClosedError(EngineClosedError):
    """The scheduler was closed: no new requests are taken and waiting ones are dropped."""
