"""The end of a turn: release the guarded text, store the turn, build and report the result.

Shared by a fresh turn (`Runner.run`) and a resumed one (`Runner.resume`).
The session write is the one stage that may end past the budget (by at most
``store_ms``). A finished turn is stored whole: the user's message, tool calls
and their results, the answer. A turn waiting for approvals is kept apart
(`SessionStore.save_pending`) until it is resumed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from agentkit._approval_types import ApprovalRequest, PendingTurn
from agentkit._budget import Deadline
from agentkit._messages import Message, ToolCall
from agentkit._result import ErrorInfo, Outcome, Tier, TurnResult
from agentkit._safety_types import SafetyVerdict
from agentkit._sessions import redact_pii
from agentkit._turn_events import ApprovalEvent, ResultEvent, SafetyEvent, TextEvent
from agentkit._turn_state import TurnState

__all__ = ["TurnEnd", "finish_turn"]

_log = structlog.get_logger("agentkit")


@dataclass
class TurnEnd:
    """How the model stage left a turn, for `finish_turn`.

    Attributes:
        outcome: The outcome so far.
        tier: The tier that answered.
        verdict: The input verdict (None when the input was never checked).
        error: What went wrong, for ``error``.
        cut: The turn's outer scope fired at the deadline.
        budget_ms: The turn's budget.
        session_id: The session given to the turn (None: none).
        user_text: The user's message, stored when the turn never built its messages.
        warmup_ms: Time waited for parts still loading before the budget started.
    """

    outcome: Outcome
    tier: Tier | None
    verdict: SafetyVerdict | None
    error: ErrorInfo | None
    cut: bool
    budget_ms: float
    session_id: str | None
    user_text: str
    warmup_ms: float = 0.0


def _finish_guard(st: TurnState, outcome: Outcome) -> Outcome:
    """Release what the output guard held back, or replace the text on a refusal."""
    start = time.perf_counter()
    with st.trace.span("safety_out") as span:
        step = st.guard.finish()
        span.attributes["agentkit.safety.action"] = (st.output_verdict or step.verdict).action
    st.timings.safety_out += (time.perf_counter() - start) * 1000.0
    if st.output_verdict is None and step.verdict.action == "refuse":
        st.output_verdict = step.verdict
    if st.output_verdict is not None:
        st.emit(SafetyEvent("output", st.output_verdict))
        st.reasons.extend(st.output_verdict.reasons or ("output refused by the safety policy",))
        st.released[:] = [st.agent.refusal_reply]
        return "refused"
    if step.released:
        st.released.append(step.released)
        st.emit(TextEvent(step.released, st.hops[-1].tier if st.hops else "fast"))
    return outcome


def _turn_messages(st: TurnState, user_text: str) -> list[Message]:
    """This turn's messages from the user's on (system messages left out)."""
    own = st.messages[st.turn_start :]
    if not own or own[0].role != "user":  # refused before the turn built its messages
        return [Message.user(user_text)]
    return [m for m in own if m.role != "system"]


async def _redacted(st: TurnState, text: str) -> str:
    verdict = await st.agent.safety.check(text, stage="output")
    if verdict.pii and (st.agent.redact_pii or verdict.action == "redact"):
        return verdict.redacted_text or redact_pii(text, verdict.pii)
    return text


async def _for_store(st: TurnState, messages: list[Message]) -> list[Message]:
    """Tool-call turns redacted by the output policy (user text and tool results already are)."""
    out = []
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            calls = [
                ToolCall.of(c.id, c.function.name, await _redacted(st, c.function.arguments))
                for c in m.tool_calls
            ]
            content = await _redacted(st, m.content) if m.content else m.content
            m = Message.assistant(content, calls)
        out.append(m)
    return out


async def _bounded_write(st: TurnState, what: str, write: Callable[[], Awaitable[None]]) -> bool:
    """Run ``write`` within ``store_ms`` past the answer; whether it worked.

    The answer goes out either way: a failure or a timeout is logged and noted
    in ``reasons`` (the store rolls back a write cut by its deadline).
    """
    store_ms = st.agent.policy.store_ms
    until = max(st.deadline.at, time.monotonic() + store_ms / 1000.0)
    why = f"the write ran out of time ({store_ms:g} ms past the answer)"
    with st.trace.span("store"), Deadline.scope(until):
        try:
            await write()
            return True
        except Exception as exc:
            why = type(exc).__name__
    _log.error("session_write_failed", turn_id=st.trace.turn_id, error=why)
    st.reasons.append(f"{what} not saved: {why}")
    return False


async def _store_turn(st: TurnState, session_id: str, user_text: str, reply: str) -> bool:
    messages = _turn_messages(st, user_text)
    if reply:
        messages.append(Message.assistant(reply))

    async def write() -> None:
        stored = await _for_store(st, messages) if st.agent.redact_pii else messages
        await st.agent.store.append(session_id, stored)

    return await _bounded_write(st, "session", write)


async def _suspend(st: TurnState, session_id: str, user_text: str) -> list[ApprovalRequest]:
    """Keep the turn for `Runner.resume`; its approval requests (empty if it was not saved)."""
    now = time.time()
    expires = now + st.agent.approval_ttl_s
    requests = [
        ApprovalRequest(
            call_id=c.id,
            tool=c.function.name,
            arguments=c.function.arguments,
            session_id=session_id,
            expires_at=expires,
        )
        for c in st.held
    ]
    hop = st.hops[-1]
    pending = PendingTurn(
        turn_id=st.trace.turn_id,
        tier=hop.tier,
        reason=hop.reason,
        messages=tuple(_turn_messages(st, user_text)),
        requests=tuple(requests),
        created_at=now,
        expires_at=expires,
    )

    async def write() -> None:
        await st.agent.store.save_pending(session_id, pending)

    saved = await _bounded_write(st, "approval request", write)
    return requests if saved else []


async def _close_store(st: TurnState, end: TurnEnd, outcome: Outcome, reply: str) -> TurnResult:
    """Store the turn (or suspend it) and build the result."""
    session_id, saved, tier = end.session_id, None, end.tier
    requests: list[ApprovalRequest] = []
    if outcome == "awaiting_approval":
        session_id = session_id or f"turn-{st.trace.turn_id}"
        requests = await _suspend(st, session_id, end.user_text)
        saved = bool(requests)
        if requests:
            st.emit(ApprovalEvent(tuple(requests)))
        else:  # nobody could resume it: say so instead of waiting for ever
            outcome, reply, tier = "degraded", st.agent.holding_reply, None
            st.say(reply)
    elif session_id is not None:
        saved = await _store_turn(st, session_id, end.user_text, reply)
    spec = st.speculative.stats if st.speculative is not None else None
    return TurnResult(
        text=reply,
        outcome=outcome,
        tier=tier if outcome != "error" else None,
        hops=st.hops,
        reasons=st.reasons,
        timings_ms=st.timings,
        usage=st.usage,
        speculative=spec,
        budget_ms=end.budget_ms,
        elapsed_ms=st.deadline.elapsed_ms(),
        safety=end.verdict,
        error=end.error,
        session_saved=saved,
        turn_id=st.trace.turn_id,
        warmup_ms=round(end.warmup_ms, 2),
        output=st.output if outcome in ("ok", "degraded") else None,
        approvals=requests,
        session_id=session_id,
        check=st.checker.report if st.checker is not None else None,
    )


async def finish_turn(st: TurnState, end: TurnEnd) -> TurnResult:
    """Guard, store and report the turn; emits the `ResultEvent`."""
    outcome = end.outcome
    if end.cut:
        outcome = "budget_exceeded"
        st.reasons.append("turn cut at the deadline")
    if outcome != "error":
        try:
            outcome = _finish_guard(st, outcome)
        except Exception as exc:  # a broken guard: nothing unchecked may leave
            _log.exception("guard_failed", turn_id=st.trace.turn_id)
            end.error = ErrorInfo(type=type(exc).__name__, message=str(exc)[:500])
            outcome = "error"
    if outcome == "error":
        st.released[:] = []  # documented: an error turn has no text (nor stores any)
    result = await _close_store(st, end, outcome, "".join(st.released))
    _report(st, result)
    st.emit(ResultEvent(result, st.trace))
    return result


def _report(st: TurnState, result: TurnResult) -> None:
    # Routine turns (a turn stopping for approval is one) are not logged:
    # structlog's default configuration prints every level, and a line per turn
    # is the trace hook's job. Expected trouble logs at info, the unexpected at
    # warning.
    if result.outcome not in ("ok", "awaiting_approval"):
        level = "warning" if result.outcome == "error" else "info"
        getattr(_log, level)(
            "turn",
            turn_id=result.turn_id,
            outcome=result.outcome,
            tier=result.tier,
            hops=[h.tier for h in result.hops],
            elapsed_ms=round(result.elapsed_ms, 2),
            budget_ms=result.budget_ms,
        )
    _close_trace(st, result)
    hook = st.agent.trace_hook
    if hook is not None:
        try:
            hook(st.trace)
        except Exception:
            _log.exception("trace_hook_failed", turn_id=result.turn_id)


def _close_trace(st: TurnState, result: TurnResult) -> None:
    """End the root span with what the turn came to (its GenAI operation: the agent)."""
    root = st.trace.root
    root.attributes.update(
        {"gen_ai.operation.name": "invoke_agent", "agentkit.outcome": result.outcome}
    )
    if result.tier is not None:
        root.attributes["agentkit.tier"] = result.tier
    deep = next((hop for hop in result.hops if hop.tier == "deep"), None)
    if deep is not None:
        root.attributes["agentkit.escalation.reason"] = deep.reason[:200]
    st.trace.finish(root)
