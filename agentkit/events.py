"""Typed events streamed by a `Model` (the agent loop adds turn-level events)."""

from agentkit._model import (
    FinishEvent,
    FinishReason,
    ModelEvent,
    StatsEvent,
    TextDelta,
    ToolCallEvent,
    UsageEvent,
)

__all__ = [
    "FinishEvent",
    "FinishReason",
    "ModelEvent",
    "StatsEvent",
    "TextDelta",
    "ToolCallEvent",
    "UsageEvent",
]
