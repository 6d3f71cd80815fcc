"""`Runner`: runs one turn of an `Agent` — safety(input) → route → tier call → safety(output).

One deadline spans the turn. Each stage takes its slice (see `BudgetPolicy`),
and each has a policy for running out, so expected trouble ends as an
outcome, never an exception:

- deep tier slow, down or broken → the fast tier continues within what is
  left (``degraded``), or the holding reply when it has nothing either;
- fast tier slow → the text so far (``budget_exceeded``);
- a tool slow → the model reads a typed timeout result;
- safety or router broken → their fail policy.

Only the unexpected (a bug, a misconfigured double) ends as ``error``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable

import anyio
import structlog

from agentkit._agent import Agent
from agentkit._budget import Deadline
from agentkit._errors import ConfigError
from agentkit._input import clean_input
from agentkit._messages import Message
from agentkit._policy import answer
from agentkit._result import ErrorInfo, Outcome, Tier, TurnResult
from agentkit._safety_types import SafetyVerdict
from agentkit._sessions import redact_pii
from agentkit._tool_sources import gather_tools
from agentkit._tracing import Trace
from agentkit._turn import TurnState
from agentkit._turn_events import (
    ResultEvent,
    RouteEvent,
    SafetyEvent,
    TextEvent,
    TurnEvent,
)
from router import Decision, RouteContext

__all__ = ["Runner"]

_log = structlog.get_logger("agentkit")
# The turn's outer safety net fires this long after the budget: every stage has
# its own, earlier cut, so this only catches a stage that ignores cancellation.
_GRACE_S = 0.05


async def _route(st: TurnState, verdict: SafetyVerdict) -> tuple[Tier, str]:
    agent = st.agent
    start = time.perf_counter()
    with st.trace.span("route") as span:
        try:
            decision = agent.router.route(st.context)
        except Exception as exc:  # a broken router must not break the turn
            decision = Decision("fast", {}, (f"router failed ({type(exc).__name__}); fast",))
        if verdict.action == "escalate":
            decision = Decision("deep", decision.scores, ("safety verdict: escalate",))
        tier: Tier = decision.tier
        reason = "; ".join(decision.reasons) or tier
        if getattr(agent, tier) is None:
            tier = "deep" if tier == "fast" else "fast"
            reason += f"; no {decision.tier} model, using {tier}"
        span.attributes["agentkit.tier"] = tier
    st.timings.route = (time.perf_counter() - start) * 1000.0
    st.reasons.extend(decision.reasons)
    st.emit(RouteEvent(tier, decision))
    return tier, reason


async def _prepare(st: TurnState, text: str, session_id: str | None) -> SafetyVerdict:
    """Input safety, session history and the routing context; returns the input verdict."""
    agent = st.agent
    start = time.perf_counter()
    with st.trace.span("safety_in") as span:
        verdict = await st.check(text, "input")
        span.attributes["agentkit.safety.action"] = verdict.action
    st.timings.safety_in = (time.perf_counter() - start) * 1000.0
    model_text = text
    if verdict.action == "redact" or (verdict.pii and agent.redact_pii):
        model_text = verdict.redacted_text or redact_pii(text, verdict.pii)
    history: list[Message] = []
    if session_id is not None:
        history = await _load_history(st, session_id)
    system = [Message.system(agent.instructions)] if agent.instructions else []
    st.messages = [*system, *history, Message.user(model_text)]
    st.context = RouteContext(
        message=model_text,
        history=tuple(m.content for m in history[-6:] if m.content),
        safety_scores=verdict.categories,
        flagged=verdict.flagged,
    )
    return verdict


async def _load_history(st: TurnState, session_id: str) -> list[Message]:
    """The session's history within its slice; none (noted) when it fails or is too slow."""
    agent = st.agent
    history: list[Message] | None = None
    with st.trace.span("history"), Deadline.scope(st.deadline.slice(agent.policy.history_ms)):
        try:
            history = await agent.store.load(session_id, max_chars=agent.history_chars)
        except Exception as exc:  # answer without history rather than not at all
            _log.error("session_read_failed", turn_id=st.trace.turn_id, error=type(exc).__name__)
    if history is None:
        st.reasons.append("session history unavailable")
        return []
    return history


async def _pipeline(
    st: TurnState, text: str, session_id: str | None
) -> tuple[Outcome, Tier | None, SafetyVerdict | None]:
    agent = st.agent
    if not text.strip():
        st.reasons.append("empty input")
        st.say(agent.refusal_reply)
        return "refused", None, None
    if len(text) > agent.max_input_chars:
        st.reasons.append(f"input too long ({len(text)} > {agent.max_input_chars} chars)")
        st.say(agent.refusal_reply)
        return "refused", None, None
    verdict = await _prepare(st, text, session_id)
    if verdict.action == "refuse":
        st.reasons.extend(verdict.reasons or ("input refused by the safety policy",))
        st.say(agent.refusal_reply)
        return "refused", None, verdict
    if agent.mcp_servers:  # their tools join the registry (cached after the first turn)
        with st.trace.span("tool_sources"):
            until = st.deadline.slice(agent.policy.tool_ms)
            st.reasons.extend(await gather_tools(agent.registry, agent.mcp_servers, until))
    tier, reason = await _route(st, verdict)
    st.check_spent()
    outcome, answered = await answer(st, tier, reason)
    st.check_spent()
    return outcome, answered, verdict


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


async def _store_turn(st: TurnState, session_id: str, user_text: str, reply: str) -> bool:
    """Save the turn, bounded by ``store_ms`` past the budget; whether it was saved.

    The answer goes out either way: a failure or a timeout is logged and noted
    in ``reasons`` (the store rolls back a write cut by its deadline).
    """
    messages = [Message.user(user_text)]
    if reply:
        messages.append(Message.assistant(reply))
    store_ms = st.agent.policy.store_ms
    until = max(st.deadline.at, time.monotonic() + store_ms / 1000.0)
    why = f"the write ran out of time ({store_ms:g} ms past the answer)"
    with st.trace.span("store"), Deadline.scope(until):
        try:
            await st.agent.store.append(session_id, messages)
            return True
        except Exception as exc:
            why = type(exc).__name__
    _log.error("session_write_failed", turn_id=st.trace.turn_id, error=why)
    st.reasons.append(f"session not saved: {why}")
    return False


async def run_turn(
    agent: Agent,
    text: str | bytes,
    *,
    session_id: str | None,
    budget_ms: float | None,
    emit: Callable[[TurnEvent], None],
) -> TurnResult:
    """Run one turn, emitting events; see `Runner.run`."""
    budget = agent.budget_ms if budget_ms is None else budget_ms
    if not budget > 0:
        raise ConfigError("budget_ms", f"must be > 0, got {budget!r}")
    clean, notes = clean_input(text)
    deadline = Deadline.after_ms(budget)
    trace = Trace()  # a fresh 128-bit trace id: the turn id of logs and the result
    st = TurnState(agent, deadline, trace, emit, agent.safety.stream_guard())
    st.reasons.extend(notes)
    outcome: Outcome = "error"
    tier: Tier | None = None
    verdict: SafetyVerdict | None = None
    error: ErrorInfo | None = None
    with Deadline.scope(deadline.at + _GRACE_S) as scope, trace.activate():
        try:
            outcome, tier, verdict = await _pipeline(st, clean, session_id)
        except Exception as exc:  # the unexpected: typed as an `error` outcome
            _log.exception("turn_failed", turn_id=trace.turn_id)
            error = ErrorInfo(type=type(exc).__name__, message=str(exc)[:500])
    if scope.cancelled_caught:
        outcome = "budget_exceeded"
        st.reasons.append("turn cut at the deadline")
    if outcome != "error":
        try:
            outcome = _finish_guard(st, outcome)
        except Exception as exc:  # a broken guard: nothing unchecked may leave
            _log.exception("guard_failed", turn_id=trace.turn_id)
            error = ErrorInfo(type=type(exc).__name__, message=str(exc)[:500])
            outcome = "error"
    if outcome == "error":
        st.released[:] = []  # documented: an error turn has no text (nor stores any)
    reply = "".join(st.released)
    saved: bool | None = None
    if session_id is not None:
        stored = clean
        if verdict is not None and agent.redact_pii and verdict.pii:
            stored = verdict.redacted_text or redact_pii(clean, verdict.pii)
        saved = await _store_turn(st, session_id, stored, reply)
    result = _result(st, reply, outcome, tier, verdict, error, budget)
    result.session_saved = saved
    _report(st, result)
    emit(ResultEvent(result, trace))
    return result


def _result(
    st: TurnState,
    reply: str,
    outcome: Outcome,
    tier: Tier | None,
    verdict: SafetyVerdict | None,
    error: ErrorInfo | None,
    budget: float,
) -> TurnResult:
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
        budget_ms=budget,
        elapsed_ms=st.deadline.elapsed_ms(),
        safety=verdict,
        error=error,
        turn_id=st.trace.turn_id,
    )


def _report(st: TurnState, result: TurnResult) -> None:
    # Routine turns are not logged: structlog's default configuration prints
    # every level, and a line per turn is the trace hook's job. Expected
    # trouble logs at info, the unexpected at warning.
    if result.outcome != "ok":
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


class Runner:
    """Runs turns of an `Agent`. Stateless: all state lives in the agent and its store.

    Example:
        >>> import anyio
        >>> from agentkit import ScriptedModel
        >>> from agentkit._agent import Agent
        >>> agent = Agent(fast=ScriptedModel(["Hello there."]))
        >>> anyio.run(Runner.run, agent, "hi").outcome
        'ok'
    """

    @staticmethod
    async def run(
        agent: Agent,
        text: str | bytes,
        *,
        session_id: str | None = None,
        budget_ms: float | None = None,
    ) -> TurnResult:
        """Run one turn and return its result; never raises for expected trouble.

        Args:
            agent: The agent.
            text: The user's message. Bytes are decoded as UTF-8 with invalid
                sequences replaced by U+FFFD (noted in ``reasons``).
            session_id: Load history from and save the turn to the agent's store.
            budget_ms: This turn's budget (default ``agent.budget_ms``).

        Returns:
            The turn's `TurnResult`.

        Raises:
            ConfigError: ``budget_ms`` is not positive, or ``text`` is not text
                (programming errors).
        """
        return await run_turn(agent, text, session_id=session_id, budget_ms=budget_ms, emit=_drop)

    @staticmethod
    def run_sync(
        agent: Agent,
        text: str | bytes,
        *,
        session_id: str | None = None,
        budget_ms: float | None = None,
    ) -> TurnResult:
        """`run` from synchronous code (starts an event loop; not from inside one)."""

        async def main() -> TurnResult:
            return await Runner.run(agent, text, session_id=session_id, budget_ms=budget_ms)

        return anyio.run(main)

    @staticmethod
    async def stream(
        agent: Agent,
        text: str | bytes,
        *,
        session_id: str | None = None,
        budget_ms: float | None = None,
    ) -> AsyncIterator[TurnEvent]:
        """Run one turn, yielding typed events; the last is a `ResultEvent`.

        The turn runs in its own task; iterate to the end, or close the iterator
        (``contextlib.aclosing``) to abandon the turn early.
        """
        send, receive = anyio.create_memory_object_stream[TurnEvent](math.inf)

        def emit(event: TurnEvent) -> None:
            # The consumer may have closed the stream; the turn is being cancelled then.
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                send.send_nowait(event)

        async def work() -> None:
            async with send:
                await run_turn(agent, text, session_id=session_id, budget_ms=budget_ms, emit=emit)

        async with anyio.create_task_group() as group:
            group.start_soon(work)
            async with receive:
                async for event in receive:
                    try:
                        yield event
                    except GeneratorExit:  # the consumer closed us: abandon the turn
                        group.cancel_scope.cancel()
                        break


def _drop(event: TurnEvent) -> None:
    """The event sink of `Runner.run`: nobody is listening."""
