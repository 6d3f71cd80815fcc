"""Typed events: those a `Model` streams, and those a turn streams (`Runner.stream`)."""

from agentkit._model import (
    FinishEvent,
    FinishReason,
    LogprobEntry,
    ModelEvent,
    StreamStatsEvent,
    TextDeltaEvent,
    ToolCallEvent,
    UsageEvent,
)
from agentkit._turn_events import (
    ApprovalEvent,
    BudgetEvent,
    EscalationEvent,
    ResultEvent,
    RouteEvent,
    SafetyEvent,
    TextEvent,
    ToolEndEvent,
    ToolStartEvent,
    TurnEvent,
)

__all__ = [
    "ApprovalEvent",
    "BudgetEvent",
    "EscalationEvent",
    "FinishEvent",
    "FinishReason",
    "LogprobEntry",
    "ModelEvent",
    "ResultEvent",
    "RouteEvent",
    "SafetyEvent",
    "StreamStatsEvent",
    "TextDeltaEvent",
    "TextEvent",
    "ToolCallEvent",
    "ToolEndEvent",
    "ToolStartEvent",
    "TurnEvent",
    "UsageEvent",
]
