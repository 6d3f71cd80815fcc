"""The state of one turn and its model stage: a tier call with its tool loop.

`TurnState` owns everything a turn accumulates (messages, text released to the
user, hops, usage, timings). `call_tier` streams one tier, loops through tool
calls, feeds every delta through the output guard, and stops on the tier's
deadline, a mid-stream escalation, a backend failure or a refusal — each an
`TierRun` status, never an exception.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Literal

import anyio

from agentkit._agent import Agent
from agentkit._budget import Deadline
from agentkit._continuation import PrefixSkipper
from agentkit._errors import BackendError
from agentkit._fallback import recording_attempts
from agentkit._genai import answered_by, hop_attributes, model_attributes, tool_attributes
from agentkit._messages import Message, ToolCall, Usage
from agentkit._model import (
    FinishEvent,
    Model,
    SamplingSettings,
    StreamStatsEvent,
    TextDeltaEvent,
    ToolCallEvent,
    UsageEvent,
)
from agentkit._result import ErrorInfo, Hop, StageTimings, Tier, TierUsage
from agentkit._safety_types import SafetyStage, SafetyVerdict, StreamGuard
from agentkit._sessions import redact_pii
from agentkit._tracing import Trace
from agentkit._turn_events import (
    BudgetEvent,
    SafetyEvent,
    TextEvent,
    ToolEndEvent,
    ToolStartEvent,
    TurnEvent,
)
from router import Decision, RouteContext, StreamSignals
from tools import ToolResult

__all__ = ["CONTINUE_INSTRUCTION", "RunStatus", "TierRun", "TurnState", "call_tier"]

RunStatus = Literal["done", "deadline", "failed", "escalate", "max_rounds", "refused"]

CONTINUE_INSTRUCTION = (
    "The assistant message above is a partial answer the user has already seen. "
    "Continue it from exactly where it stops. Do not repeat any of it."
)
WITHHELD = "[tool result withheld by the safety policy]"


@dataclass(frozen=True)
class TierRun:
    """How one tier call ended.

    Attributes:
        status: ``done`` (answered), ``deadline`` (cut by its slice), ``failed``
            (backend error), ``escalate`` (router asked for deep mid-stream),
            ``max_rounds`` (tool loop limit), ``refused`` (output guard refused).
        decision: The escalation decision, for ``escalate``.
        error: What failed, for ``failed``.
    """

    status: RunStatus
    decision: Decision | None = None
    error: ErrorInfo | None = None


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

    def feed(self, text: str, tier: Tier) -> bool:
        """Pass model text through the dedupe and the output guard; False once refused."""
        text = self.skipper.feed(text)
        if not text:
            return True
        self.round_text.append(text)
        self.generated_chars += len(text)
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


def _failed_verdict(reason: str, fail_open: bool) -> SafetyVerdict:
    if fail_open:
        return SafetyVerdict(reasons=(reason + "; allowed by policy",))
    return SafetyVerdict(action="refuse", reasons=(reason + "; refused by policy",))


async def _run_tools(st: TurnState, calls: list[ToolCall], until: float) -> list[Message]:
    """Run one round of tool calls concurrently; each result passes the safety check."""
    limit_s = min(st.agent.policy.tool_ms / 1000.0, until - time.monotonic())
    limit_s = max(limit_s, 0.001)
    results: list[ToolResult | None] = [None] * len(calls)

    async def one(index: int, call: ToolCall) -> None:
        fn = call.function
        with st.trace.span("tool", tool_attributes(call), parent=round_span) as span:
            result = await st.agent.registry.execute(call.id, fn.name, fn.arguments, limit_s)
            span.attributes["agentkit.outcome"] = result.error or "ok"
        results[index] = result

    start = time.perf_counter()
    with st.trace.span("tools", {"agentkit.tool.calls": len(calls)}) as round_span:
        async with anyio.create_task_group() as group:
            for index, call in enumerate(calls):
                st.emit(ToolStartEvent(call.id, call.function.name, call.function.arguments))
                group.start_soon(one, index, call)
    st.timings.tools += (time.perf_counter() - start) * 1000.0
    messages = []
    for result in results:
        if result is None:  # pragma: no cover - the task group always fills every slot
            continue
        if result.error == "timeout":
            st.warn("tools", f"tool {result.name!r} timed out")
        st.emit(ToolEndEvent(result))
        messages.append(Message.tool(result.call_id, await _checked_content(st, result.content)))
    return messages


async def _checked_content(st: TurnState, content: str) -> str:
    verdict = await st.check(content, "tool_result")
    if verdict.action == "refuse":
        return WITHHELD
    if verdict.action == "redact" or (verdict.pii and st.agent.redact_pii):
        return verdict.redacted_text or redact_pii(content, verdict.pii)
    return content


def _signals(event: StreamStatsEvent) -> StreamSignals:
    s = event.stats
    return StreamSignals(
        tokens=event.tokens,
        drafted=s.drafted,
        accepted=s.accepted,
        acceptance_rate=s.acceptance_rate,
        mean_logprob=event.mean_logprob,
    )


def _escalation(st: TurnState, event: StreamStatsEvent) -> Decision | None:
    try:
        decision = st.agent.router.should_escalate(st.context, _signals(event))
    except Exception:  # a broken router must not break the turn
        return None
    return decision if decision is not None and decision.tier == "deep" else None


async def _one_round(
    st: TurnState,
    tier: Tier,
    model: Model,
    messages: list[Message],
    until: float,
    escalate: bool,
    with_tools: bool = True,
) -> tuple[TierRun, list[ToolCall]]:
    calls: list[ToolCall] = []
    finish = "stop"
    usage = _RoundUsage()
    settings = st.agent.settings
    if not with_tools:
        settings = (settings or SamplingSettings()).model_copy(update={"tool_choice": "none"})
    stream = model.stream(
        messages, tools=st.agent.registry.schemas(), settings=settings, deadline=until
    )
    try:
        async with aclosing(stream) as events:  # type: ignore[type-var]
            async for event in events:
                if isinstance(event, TextDeltaEvent):
                    usage.deltas += 1
                    if not st.feed(event.text, tier):
                        return TierRun("refused"), []
                elif isinstance(event, ToolCallEvent):
                    calls.append(event.call)
                elif isinstance(event, UsageEvent):
                    usage.reported = True
                    st.add_usage(tier, event)
                elif isinstance(event, StreamStatsEvent):
                    usage.tokens = max(usage.tokens, event.tokens)
                    if tier == "fast":
                        st.speculative = event
                    decision = _escalation(st, event) if escalate and not event.final else None
                    if decision is not None:
                        return TierRun("escalate", decision=decision), []
                elif isinstance(event, FinishEvent):
                    finish = event.reason
    finally:
        # An abandoned stream (escalation, deadline, refusal) reports no usage:
        # count what was generated, so the tier's cost is not understated.
        if not usage.reported and (usage.tokens or usage.deltas):
            estimate = Usage(completion_tokens=max(usage.tokens, usage.deltas))
            st.add_usage(tier, UsageEvent(usage=estimate))
    return TierRun("deadline" if finish == "deadline" else "done"), calls


def _call_key(call: ToolCall) -> tuple[str, str]:
    """A tool call's identity: its name and its arguments with key order normalised."""
    raw = call.function.arguments or "{}"
    try:
        return call.function.name, json.dumps(json.loads(raw), sort_keys=True)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        return call.function.name, raw


@dataclass
class _RoundUsage:
    reported: bool = False
    tokens: int = 0
    deltas: int = 0


async def _tool_loop(
    st: TurnState, tier: Tier, model: Model, until: float, prefix: str, escalate: bool
) -> TierRun:
    extra = [Message.assistant(prefix), Message.system(CONTINUE_INSTRUCTION)] if prefix else []
    done: set[tuple[str, str]] = set()  # calls already run in this turn
    repeated = False
    for rounds in range(st.agent.max_tool_rounds + 1):
        st.round_text[:] = [prefix] if prefix else []
        # The last round, or the one after a repeated call, must answer (tool_choice
        # "none"): the model answers from the results it has instead of failing the turn.
        with_tools = rounds < st.agent.max_tool_rounds and not repeated
        run, calls = await _one_round(
            st, tier, model, st.messages + extra, until, escalate, with_tools
        )
        if run.status != "done" or not calls:
            return run
        if not with_tools:
            break  # a model that calls tools it was told not to call
        keys = [_call_key(c) for c in calls]
        if all(k in done for k in keys):
            # Small models repeat a call whose result they already have: running it
            # again cannot help, so the next round must answer.
            st.reasons.append(f"{tier} tier repeated a tool call: answering from its result")
            repeated = True
            continue
        done.update(keys)
        text = "".join(st.round_text)
        st.messages.append(Message.assistant(text or None, calls))
        prefix, extra = "", []
        st.messages.extend(await _run_tools(st, calls, until))
    st.reasons.append(f"{tier} tier still calling tools after {st.agent.max_tool_rounds} rounds")
    return TierRun("max_rounds")


async def call_tier(
    st: TurnState,
    tier: Tier,
    model: Model,
    until: float,
    *,
    reason: str,
    prefix: str = "",
    escalate: bool = False,
) -> TierRun:
    """Run ``tier`` until it answers or ``until`` (monotonic) passes, recording one hop.

    Args:
        st: The turn.
        tier: Which tier ``model`` is.
        model: The model to call.
        until: Absolute deadline of this call.
        reason: Why the turn visits this tier (recorded on the hop).
        prefix: Text already shown to the user, to be continued, not repeated.
        escalate: Whether running statistics may escalate this call to deep.

    Returns:
        How the call ended.
    """
    st.skipper = PrefixSkipper(prefix)
    start, tools_before = time.perf_counter(), st.timings.tools
    entry = st.usage.setdefault(tier, TierUsage())
    entry.calls += 1
    run, used = TierRun("deadline"), entry.usage
    attributes = model_attributes(model, model.name)
    with (
        st.trace.span(f"model.{tier}", attributes) as span,
        Deadline.scope(until),
        recording_attempts() as attempts,
    ):
        try:
            run = await _tool_loop(st, tier, model, until, prefix, escalate)
        except BackendError as exc:
            run = TierRun("failed", error=ErrorInfo(type=type(exc).__name__, message=str(exc)))
    rest = st.skipper.flush()
    if rest and run.status != "refused":
        st.feed(rest, tier)
    st.timings.model += (time.perf_counter() - start) * 1000.0 - (st.timings.tools - tools_before)
    name = answered_by(model.name, attempts)
    hop = Hop(tier=tier, reason=reason, model=name, outcome=run.status, attempts=tuple(attempts))
    st.hops.append(hop)
    span.attributes.update(hop_attributes(hop, used, entry.usage))
    if run.status == "deadline":
        st.warn(f"model.{tier}", f"{tier} tier ran out of its slice")
    return run
