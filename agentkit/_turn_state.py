"""`TurnState`: everything one turn accumulates while it runs.

Messages, the text released to the user (every model delta passes the output
guard here, or, for a typed answer, is collected until validated), hops,
usage, timings, and the calls waiting for approval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from pydantic import BaseModel

from agentkit._agent import Agent
from agentkit._answer_check import CheckStream
from agentkit._budget import Deadline
from agentkit._continuation import PrefixSkipper
from agentkit._messages import Message, ToolCall
from agentkit._model import StreamStatsEvent, UsageEvent
from agentkit._result import Hop, StageTimings, Tier, TierUsage
from agentkit._safety_types import SafetyStage, SafetyVerdict, StreamGuard
from agentkit._tracing import Trace
from agentkit._turn_events import BudgetEvent, SafetyEvent, TextEvent, TurnEvent
from router import RouteContext

__all__ = ["TurnState"]

_log = structlog.get_logger("agentkit")


@dataclass
class TurnState:
    """Everything one turn accumulates while it runs."""

    agent: Agent
    deadline: Deadline
    trace: Trace
    emit: Callable[[TurnEvent], None]
    guard: StreamGuard
    context: RouteContext = field(default_factory=lambda: RouteContext(message=""))
    messages: list[Message] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    round_text: list[str] = field(default_factory=list)
    generated_chars: int = 0
    hops: list[Hop] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    usage: dict[Tier, TierUsage] = field(default_factory=dict)
    timings: StageTimings = field(default_factory=StageTimings)
    speculative: StreamStatsEvent | None = None
    output_verdict: SafetyVerdict | None = None
    skipper: PrefixSkipper = field(default_factory=lambda: PrefixSkipper(""))
    warned: bool = False
    turn_start: int = 0
    """Index in ``messages`` of this turn's user message (before it: system, history)."""
    held: list[ToolCall] = field(default_factory=list)
    """Tool calls waiting for approval (the turn ends ``awaiting_approval``)."""
    output: BaseModel | None = None
    """The validated typed answer (agents with an ``output_type``)."""
    checker: CheckStream | None = None
    """The answer check (agents with an ``answer_check``): holds a checked tier's text
    back a sentence at a time until its claims are supported (`agentkit._verify`)."""

    def feed(self, text: str, tier: Tier) -> bool:
        """Pass model text through the dedupe and the output guard; False once refused.

        A typed answer (``output_type``) is only collected here: it is released
        whole once validated (`agentkit._typed.settle`).
        """
        text = self.skipper.feed(text)
        if not text:
            return True
        self.round_text.append(text)
        self.generated_chars += len(text)
        if self.agent.output_type is not None:
            return True
        if self.checker is not None and self.checker.watches(tier):
            return self.checker.feed(text, tier, self.release)
        return self.release(text, tier)

    def release(self, text: str, tier: Tier) -> bool:
        """Pass text through the output guard, emitting what it releases; False once refused."""
        start = time.perf_counter()
        step = self.guard.feed(text)
        self.timings.safety_out += (time.perf_counter() - start) * 1000.0
        if step.verdict.action == "refuse":
            self.output_verdict = step.verdict
            return False
        if step.released:
            self.released.append(step.released)
            self.emit(TextEvent(step.released, tier))
        return True

    def say(self, text: str) -> None:
        """Release our own text (the holding reply) without a model."""
        self.released.append(text)
        self.emit(TextEvent(text, "fast"))

    def add_usage(self, tier: Tier, event: UsageEvent) -> None:
        """Count tokens and cost for ``tier``."""
        entry = self.usage.setdefault(tier, TierUsage())
        entry.usage = entry.usage + event.usage
        price = self.agent.prices.get(tier)
        if price is not None:
            u = event.usage
            entry.cost_usd += price.cost(u.prompt_tokens, u.completion_tokens)

    def warn(self, stage: str, message: str) -> None:
        """Emit a budget warning."""
        self.emit(BudgetEvent(stage, self.deadline.remaining_ms(), message))

    def check_spent(self) -> None:
        """Warn once when most of the budget is spent."""
        spent = self.deadline.fraction_spent()
        if not self.warned and spent >= self.agent.policy.warn_fraction:
            self.warned = True
            self.warn("turn", f"{spent:.0%} of the turn budget spent")

    async def check(self, text: str, stage: SafetyStage) -> SafetyVerdict:
        """Run the safety filter within its slice; a failure follows the fail-open policy."""
        policy = self.agent.policy
        verdict: SafetyVerdict | None = None
        with Deadline.scope(self.deadline.slice(policy.safety_in_ms)):
            try:
                verdict = await self.agent.safety.check(text, stage=stage)
            except Exception as exc:
                failure = f"safety check failed: {type(exc).__name__}"
                verdict = _failed_verdict(failure, policy.safety_fail_open)
        if verdict is None:
            self.warn(f"safety_{stage}", "safety check ran out of its slice")
            verdict = _failed_verdict("safety check timed out", policy.safety_fail_open)
        self.emit(SafetyEvent(stage, verdict))
        return verdict

    async def load_history(self, session_id: str) -> list[Message]:
        """The session's history within its slice; none (noted) when it fails or is too slow."""
        agent = self.agent
        history: list[Message] | None = None
        slice_end = self.deadline.slice(agent.policy.history_ms)
        with self.trace.span("history"), Deadline.scope(slice_end):
            try:
                history = await agent.store.load(session_id, max_chars=agent.history_chars)
            except Exception as exc:  # answer without history rather than not at all
                _log.error(
                    "session_read_failed", turn_id=self.trace.turn_id, error=type(exc).__name__
                )
        if history is None:
            self.reasons.append("session history unavailable")
            return []
        return history


def _failed_verdict(reason: str, fail_open: bool) -> SafetyVerdict:
    if fail_open:
        return SafetyVerdict(reasons=(reason + "; allowed by policy",))
    return SafetyVerdict(action="refuse", reasons=(reason + "; refused by policy",))
