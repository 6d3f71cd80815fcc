"""The turn's latency budget: one deadline, slices per stage, and the policy when one runs out.

All deadlines here are absolute ``time.monotonic()`` seconds, the clock the
`Model` seam uses. `Deadline.scope` turns one into an anyio cancel scope, so a
stage is cut by the event loop's timer, never by sleep-and-poll.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import anyio

from agentkit._errors import ConfigError

__all__ = ["BudgetPolicy", "Deadline"]


@dataclass(frozen=True)
class BudgetPolicy:
    """How a turn's budget is split between stages, and what to do when a slice runs out.

    The model stage gets whatever the other stages leave. The deep tier stops
    ``fallback_reserve_ms`` before the turn's end so that the fast tier can still
    answer; ``finish_reserve_ms`` is kept back from every model call for the
    output check and building the result. The session write runs once the
    answer is final and is the one stage that may end past the budget: by at
    most ``store_ms``, after which the turn reports the session as not saved.

    Attributes:
        safety_in_ms: Most time the input safety check may take.
        history_ms: Most time loading the session history may take; past it the
            turn answers without history (noted in ``reasons``).
        route_ms: Most time routing may take (the router is synchronous; this
            only decides when a slow router triggers a budget warning).
        tool_ms: Most time one round of tool calls may take; a slower tool gets
            a typed timeout result.
        fallback_reserve_ms: Time kept for the fast tier when the deep tier runs
            first and turns out slow or down.
        finish_reserve_ms: Time kept after the model stage for output safety
            and the result.
        store_ms: Most time the session write may take: it gets the rest of the
            budget, or ``store_ms`` from its start when that is later.
        warn_fraction: Emit a budget warning once this fraction of the budget is spent.
        safety_fail_open: When the safety filter fails or times out, allow
            (True) or refuse (False, the default) the text.
    """

    safety_in_ms: float = 100.0
    history_ms: float = 100.0
    route_ms: float = 20.0
    tool_ms: float = 500.0
    fallback_reserve_ms: float = 300.0
    finish_reserve_ms: float = 10.0
    store_ms: float = 250.0
    warn_fraction: float = 0.8
    safety_fail_open: bool = False

    def __post_init__(self) -> None:
        for name in ("safety_in_ms", "history_ms", "route_ms", "tool_ms", "store_ms"):
            if not getattr(self, name) > 0:
                raise ConfigError(name, "must be > 0")
        for name in ("fallback_reserve_ms", "finish_reserve_ms"):
            if not 0 <= getattr(self, name) < math.inf:
                raise ConfigError(name, "must be finite and >= 0")
        if not 0.0 < self.warn_fraction <= 1.0:
            raise ConfigError("warn_fraction", "must be in (0, 1]")


@dataclass(frozen=True)
class Deadline:
    """An absolute deadline on ``time.monotonic()`` and its stage slices.

    Attributes:
        start: When the turn started.
        at: When the turn must be over.
    """

    start: float
    at: float

    @classmethod
    def after_ms(cls, budget_ms: float) -> Deadline:
        """A deadline ``budget_ms`` from now."""
        now = time.monotonic()
        return cls(start=now, at=now + budget_ms / 1000.0)

    def remaining_ms(self) -> float:
        """Milliseconds left (negative once past)."""
        return (self.at - time.monotonic()) * 1000.0

    def elapsed_ms(self) -> float:
        """Milliseconds since the turn started."""
        return (time.monotonic() - self.start) * 1000.0

    def fraction_spent(self) -> float:
        """The share of this turn's budget spent so far (0 for an unbounded one)."""
        total = self.at - self.start
        return (time.monotonic() - self.start) / total if 0 < total < math.inf else 0.0

    def slice(self, ms: float, *, reserve_ms: float = 0.0) -> float:
        """An absolute deadline for a stage: ``ms`` from now, but never past ``at - reserve``."""
        return min(time.monotonic() + ms / 1000.0, self.at - reserve_ms / 1000.0)

    def before_end(self, reserve_ms: float) -> float:
        """The absolute time ``reserve_ms`` before the end of the turn."""
        return self.at - reserve_ms / 1000.0

    @staticmethod
    def scope(deadline: float) -> anyio.CancelScope:
        """A cancel scope that fires at the monotonic ``deadline``.

        anyio's clock need not be ``time.monotonic`` (it is on asyncio), so the
        deadline is translated through the current offset.
        """
        offset = anyio.current_time() - time.monotonic()
        return anyio.CancelScope(deadline=deadline + offset)
