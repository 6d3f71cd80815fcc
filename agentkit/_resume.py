"""`Runner.resume`: continue a turn that stopped for approvals, with a fresh budget.

The decisions are checked against the waiting turn before anything runs (an
unknown or undecided call, no waiting turn, an expired one: typed errors, and
the waiting turn stays unless it expired). The turn is then claimed (exactly
one of two racing resumes wins), approved calls run, rejected ones become tool
results the model reads ("not run: ..." with the reason), and the tier that
was running continues its tool loop from there, under the same policies as any
turn (fallbacks, typed output, output guard, the session write).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterable

import structlog

from agentkit._agent import Agent
from agentkit._approval_types import Approval, PendingTurn
from agentkit._budget import Deadline
from agentkit._errors import ApprovalError, ApprovalExpiredError, ConfigError
from agentkit._messages import Message, ToolCall
from agentkit._policy import after_run
from agentkit._result import ErrorInfo, Outcome, Tier, TurnResult
from agentkit._tool_round import run_tools
from agentkit._tracing import Trace
from agentkit._turn import call_tier
from agentkit._turn_end import TurnEnd, finish_turn
from agentkit._turn_events import ToolEndEvent, ToolStartEvent, TurnEvent
from agentkit._turn_state import TurnState
from agentkit._typed import settle
from agentkit._verify import start_check, verify
from agentkit._warm import wait_loading
from router import RouteContext
from tools import ToolResult

__all__ = ["resume_turn"]

_log = structlog.get_logger("agentkit")
_GRACE_S = 0.05  # as `agentkit._runner`: the outer net behind every stage's own cut


def _decisions(approvals: Approval | Iterable[Approval]) -> dict[str, Approval]:
    """The decisions by call id (a programming error is a `ConfigError`)."""
    items = [approvals] if isinstance(approvals, Approval) else approvals
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise ConfigError("approvals", f"expected Approval objects, got {type(items).__name__}")
    out: dict[str, Approval] = {}
    for item in items:
        if not isinstance(item, Approval):
            raise ConfigError("approvals", f"expected Approval objects, got {type(item).__name__}")
        if item.call_id in out:
            raise ConfigError("approvals", f"call {item.call_id!r} is decided twice")
        out[item.call_id] = item
    return out


async def _claim(agent: Agent, session_id: str, decisions: dict[str, Approval]) -> PendingTurn:
    """The waiting turn, checked against the decisions and removed from the store."""
    pending = await agent.store.load_pending(session_id)
    if pending is None:
        raise ApprovalError(session_id, "no turn is waiting for approval (resumed or finished?)")
    if time.time() >= pending.expires_at:
        await agent.store.take_pending(session_id, pending.turn_id)
        at = datetime.datetime.fromtimestamp(pending.expires_at, datetime.UTC).isoformat()
        raise ApprovalExpiredError(session_id, f"the waiting turn expired at {at}")
    waiting = {r.call_id for r in pending.requests}
    unknown = tuple(sorted(set(decisions) - waiting))
    if unknown:
        raise ApprovalError(session_id, f"no waiting call has id {', '.join(unknown)}", unknown)
    undecided = tuple(sorted(waiting - set(decisions)))
    if undecided:
        raise ApprovalError(session_id, "every waiting call needs a decision", undecided)
    if not await agent.store.take_pending(session_id, pending.turn_id):
        raise ApprovalError(session_id, "the waiting turn was resumed by another call")
    return pending


def _rejected(call: ToolCall, reason: str) -> ToolResult:
    why = f" Reason: {reason}" if reason.strip() else ""
    content = f"Not run: a person rejected this call.{why}"
    name = call.function.name
    return ToolResult(
        call_id=call.id, name=name, ok=False, content=content, error="rejected", elapsed_ms=0.0
    )


async def _apply(
    st: TurnState, pending: PendingTurn, decisions: dict[str, Approval], until: float
) -> None:
    """Run the approved calls; the rejected ones become results the model reads."""
    calls = [ToolCall.of(r.call_id, r.tool, r.arguments) for r in pending.requests]
    approved = [c for c in calls if decisions[c.id].approved]
    if approved:
        st.messages.extend(await run_tools(st, approved, until))
    for call in calls:
        if not decisions[call.id].approved:
            result = _rejected(call, decisions[call.id].reason)
            st.emit(ToolStartEvent(call.id, call.function.name, call.function.arguments))
            st.emit(ToolEndEvent(result))
            st.messages.append(Message.tool(call.id, result.content))


async def _continue(
    st: TurnState, session_id: str, pending: PendingTurn, decisions: dict[str, Approval]
) -> tuple[Outcome, Tier | None]:
    agent = st.agent
    history = await st.load_history(session_id)
    system = [Message.system(agent.instructions)] if agent.instructions else []
    st.messages = [*system, *history, *pending.messages]
    st.turn_start = len(system) + len(history)
    st.context = RouteContext(message=pending.messages[0].content or "")
    tier: Tier = "deep" if pending.tier == "deep" and agent.tier_model("deep") else "fast"
    if agent.tier_model(tier) is None:
        tier = "deep"
    model = agent.tier_model(tier)
    assert model is not None  # an agent has a fast or a deep model
    end = st.deadline.before_end(agent.policy.finish_reserve_ms)
    until = end
    if tier == "deep" and agent.fast is not None:
        until = end - agent.policy.fallback_reserve_ms / 1000.0
    await _apply(st, pending, decisions, until)
    why = f"resumed after approval: {pending.reason}" if pending.reason else "resumed"
    st.checker = start_check(st)
    run = await call_tier(st, tier, model, until, reason=why)
    outcome, answered = await after_run(st, tier, run, end)
    outcome, answered = await verify(st, outcome, answered)  # the answer check, if any
    if agent.output_type is not None:
        outcome, answered = await settle(st, outcome, answered)
    return outcome, answered


async def resume_turn(
    agent: Agent,
    session_id: str,
    approvals: Approval | Iterable[Approval],
    *,
    budget_ms: float | None,
    emit: Callable[[TurnEvent], None],
) -> TurnResult:
    """Continue the session's waiting turn; see `Runner.resume`."""
    decisions = _decisions(approvals)
    budget = agent.budget_ms if budget_ms is None else budget_ms
    if not budget > 0:
        raise ConfigError("budget_ms", f"must be > 0, got {budget!r}")
    pending = await _claim(agent, session_id, decisions)
    warmup_ms = await wait_loading(agent)
    deadline = Deadline.after_ms(budget)
    trace = Trace(turn_id=pending.turn_id)  # the same turn, continued
    st = TurnState(agent, deadline, trace, emit, agent.safety.stream_guard())
    approved = sum(d.approved for d in decisions.values())
    st.reasons.append(f"resumed: {approved} approved, {len(decisions) - approved} rejected")
    outcome: Outcome = "error"
    answered: Tier | None = None
    error: ErrorInfo | None = None
    with Deadline.scope(deadline.at + _GRACE_S) as scope, trace.activate():
        try:
            outcome, answered = await _continue(st, session_id, pending, decisions)
        except Exception as exc:  # the unexpected: typed as an `error` outcome
            _log.exception("turn_failed", turn_id=trace.turn_id)
            error = ErrorInfo(type=type(exc).__name__, message=str(exc)[:500])
    user_text = pending.messages[0].content or "" if pending.messages else ""
    end = TurnEnd(
        outcome, answered, None, error, scope.cancelled_caught, budget, session_id, user_text
    )
    end.warmup_ms = warmup_ms
    return await finish_turn(st, end)
