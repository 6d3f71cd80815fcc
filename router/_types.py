"""Routing types: what the router reads (`RouteContext`) and returns (`Decision`).

They live here, not in `agentkit`, so that `router` never imports `agentkit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

__all__ = ["Decision", "RouteContext", "Router", "StreamSignals", "TierName"]

TierName = Literal["fast", "deep"]


@dataclass(frozen=True)
class RouteContext:
    """What a routing decision may look at.

    Attributes:
        message: The latest user message (after safety normalisation).
        history: Recent turns' texts, oldest first.
        tool_results: Tool outputs the model has seen in this turn.
        safety_scores: The input safety verdict's category scores.
        flagged: Whether the safety filter flagged the input.
    """

    message: str
    history: tuple[str, ...] = ()
    tool_results: tuple[str, ...] = ()
    safety_scores: Mapping[str, float] = field(default_factory=dict)
    flagged: bool = False


@dataclass(frozen=True)
class Decision:
    """Where a turn goes and why.

    Attributes:
        tier: ``fast`` or ``deep``.
        scores: A score in [0, 1] per reason (``math``, ``logic``, ``flagged``, ...).
        reasons: Human-readable reasons, most important first.
    """

    tier: TierName
    scores: Mapping[str, float] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class StreamSignals:
    """Running signals from a streaming fast tier, for mid-stream escalation.

    Attributes:
        tokens: Tokens generated so far.
        drafted: Draft tokens proposed so far.
        accepted: Draft tokens accepted so far.
        acceptance_rate: ``accepted / drafted`` (0 when nothing was drafted).
        mean_logprob: Mean log-probability of chosen tokens, if known.
    """

    tokens: int = 0
    drafted: int = 0
    accepted: int = 0
    acceptance_rate: float = 0.0
    mean_logprob: float | None = None


@runtime_checkable
class Router(Protocol):
    """Routing policy: pure, cheap, and never raising."""

    def route(self, context: RouteContext) -> Decision:
        """Pick the tier for a turn before any model runs."""
        ...

    def should_escalate(self, context: RouteContext, stats: StreamSignals) -> Decision | None:
        """Mid-stream check: a `Decision` for ``deep`` to abandon the fast stream, else None."""
        ...
