"""The model stage of a turn: a tier call with its tool loop.

`call_tier` streams one tier, loops through tool calls (`agentkit._tool_round`),
feeds every delta to the turn's `TurnState` (output guard), and stops on the
tier's deadline, a mid-stream escalation, a backend failure, a refusal or a
call that needs approval — each a `TierRun` status, never an exception.
"""

from __future__ import annotations

import json
import time
from contextlib import aclosing
from dataclasses import dataclass
from typing import Literal

from agentkit._budget import Deadline
from agentkit._continuation import PrefixSkipper
from agentkit._errors import BackendError
from agentkit._fallback import recording_attempts
from agentkit._genai import answered_by, hop_attributes, model_attributes
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
from agentkit._result import ErrorInfo, Hop, Tier, TierUsage
from agentkit._tool_round import WITHHELD, held_for_approval, run_tools
from agentkit._turn_state import TurnState
from router import Decision, StreamSignals

__all__ = ["CONTINUE_INSTRUCTION", "WITHHELD", "RunStatus", "TierRun", "TurnState", "call_tier"]

RunStatus = Literal["done", "deadline", "failed", "escalate", "max_rounds", "refused", "approval"]

CONTINUE_INSTRUCTION = (
    "The assistant message above is a partial answer the user has already seen. "
    "Continue it from exactly where it stops. Do not repeat any of it."
)


@dataclass(frozen=True)
class TierRun:
    """How one tier call ended.

    Attributes:
        status: ``done`` (answered), ``deadline`` (cut by its slice), ``failed``
            (backend error), ``escalate`` (router asked for deep mid-stream),
            ``max_rounds`` (tool loop limit), ``refused`` (output guard refused),
            ``approval`` (a call waits for a person's decision: ``TurnState.held``).
        decision: The escalation decision, for ``escalate``.
        error: What failed, for ``failed``.
    """

    status: RunStatus
    decision: Decision | None = None
    error: ErrorInfo | None = None


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
        messages,
        tools=st.agent.registry.schemas(st.context.message),  # only the tools it may need
        settings=settings,
        deadline=until,
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
        held = held_for_approval(st.agent.registry, calls)
        runnable = [c for c in calls if c not in held]
        if runnable:
            st.messages.extend(await run_tools(st, runnable, until))
        if held:  # the others ran; these wait for a person's decision (`Runner.resume`)
            st.held = held
            return TierRun("approval")
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
