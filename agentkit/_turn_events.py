"""Typed events of one streamed turn (`Runner.stream`), in the order they can occur.

A stream always ends with exactly one `ResultEvent`. Text events carry only
text that passed the output safety guard: what a user interface may show.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentkit._approval_types import ApprovalRequest
from agentkit._result import Tier, TurnResult
from agentkit._safety_types import SafetyStage, SafetyVerdict
from agentkit._tracing import Trace
from router import Decision
from tools import ToolResult

__all__ = [
    "ApprovalEvent",
    "BudgetEvent",
    "EscalationEvent",
    "ResultEvent",
    "RouteEvent",
    "SafetyEvent",
    "TextEvent",
    "ToolEndEvent",
    "ToolStartEvent",
    "TurnEvent",
]


@dataclass(frozen=True)
class SafetyEvent:
    """The safety filter judged a text (input, a tool result, or the output)."""

    stage: SafetyStage
    verdict: SafetyVerdict


@dataclass(frozen=True)
class RouteEvent:
    """The router picked a tier (``tier`` may differ from the decision when a tier is missing)."""

    tier: Tier
    decision: Decision


@dataclass(frozen=True)
class TextEvent:
    """Checked text released to the user, from ``tier``."""

    text: str
    tier: Tier


@dataclass(frozen=True)
class ToolStartEvent:
    """The model asked for a tool call; it starts now."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolEndEvent:
    """A tool call finished (successfully or with a typed failure)."""

    result: ToolResult


@dataclass(frozen=True)
class EscalationEvent:
    """The turn moved from one tier to the other mid-turn, keeping the text already shown."""

    source: Tier
    target: Tier
    reason: str


@dataclass(frozen=True)
class BudgetEvent:
    """A stage ran out of its slice, or most of the turn's budget is spent."""

    stage: str
    remaining_ms: float
    message: str


@dataclass(frozen=True)
class ApprovalEvent:
    """The turn stops here: these tool calls wait for a person's decision (`Runner.resume`)."""

    requests: tuple[ApprovalRequest, ...]


@dataclass(frozen=True)
class ResultEvent:
    """The turn is over: its result and its trace."""

    result: TurnResult
    trace: Trace


TurnEvent = (
    SafetyEvent
    | RouteEvent
    | TextEvent
    | ToolStartEvent
    | ToolEndEvent
    | EscalationEvent
    | BudgetEvent
    | ApprovalEvent
    | ResultEvent
)
