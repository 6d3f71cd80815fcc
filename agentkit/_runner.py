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
from collections.abc import AsyncIterator, Callable, Iterable

import anyio
import structlog

from agentkit._agent import Agent
from agentkit._approval_types import Approval
from agentkit._budget import Deadline
from agentkit._errors import ConfigError
from agentkit._input import clean_input
from agentkit._messages import Message
from agentkit._policy import answer
from agentkit._result import ErrorInfo, Outcome, Tier, TurnResult
from agentkit._resume import resume_turn
from agentkit._safety_types import SafetyVerdict
from agentkit._sessions import redact_pii
from agentkit._tool_sources import gather_tools
from agentkit._tracing import Trace
from agentkit._turn_end import TurnEnd, finish_turn
from agentkit._turn_events import (
    RouteEvent,
    TurnEvent,
)
from agentkit._turn_state import TurnState
from agentkit._typed import settle
from agentkit._verify import start_check, verify
from agentkit._warm import Warmup, wait_loading, warm_agent
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
        history = await st.load_history(session_id)
    system = [Message.system(agent.instructions)] if agent.instructions else []
    st.messages = [*system, *history, Message.user(model_text)]
    st.turn_start = len(system) + len(history)
    said = [m.content for m in history if m.content and m.role in ("user", "assistant")]
    st.context = RouteContext(
        message=model_text,
        history=tuple(said[-6:]),
        safety_scores=verdict.categories,
        flagged=verdict.flagged,
    )
    return verdict


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
    st.checker = start_check(st)
    outcome, answered = await answer(st, tier, reason)
    outcome, answered = await verify(st, outcome, answered)  # the answer check, if any
    if agent.output_type is not None:  # validate (one corrective retry), then release
        outcome, answered = await settle(st, outcome, answered)
    st.check_spent()
    return outcome, answered, verdict


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
    warmup_ms = await wait_loading(agent)  # a model still loading: before the budget starts
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
    end = TurnEnd(outcome, tier, verdict, error, scope.cancelled_caught, budget, session_id, clean)
    end.warmup_ms = warmup_ms
    return await finish_turn(st, end)


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
    async def start(agent: Agent) -> Warmup:
        """Warm every part of ``agent`` now, so that no turn pays for loading anything.

        Loads and primes the models (`EngineModel`: the engine, its kernels'
        first calls, the agent's prompt in the prefix cache), runs the router
        and the safety filter once (their models load), loads the router's
        embedding layer when it may be asked, warms each tool that has a
        ``warm`` hook (`tools.KnowledgeBase` indexes) and opens the session
        store. Without it, the first turn still waits for a model that is
        loading (outside its budget: `TurnResult.warmup_ms`), but pays for the
        rest inside its budget.

        Returns:
            What was warmed, with the time per part.

        Raises:
            BackendError: A model could not load or run its primer.
        """
        return await warm_agent(agent)

    @staticmethod
    def start_sync(agent: Agent) -> Warmup:
        """`start` from synchronous code (starts an event loop; not from inside one)."""
        return anyio.run(warm_agent, agent)

    @staticmethod
    @contextlib.asynccontextmanager
    async def started(agent: Agent) -> AsyncIterator[Warmup]:
        """`start` on entry; on exit, close what the agent's models hold open.

        Closing stops an `EngineModel`'s scheduler thread and an `OpenAIModel`'s
        pooled connections (models with an ``aclose``); neither is final: a
        later turn starts them again. Stores stay open (the caller owns them).

        Example:
            >>> import anyio
            >>> from agentkit import ScriptedModel
            >>> from agentkit._agent import Agent
            >>> agent = Agent(fast=ScriptedModel(["Hi."]))
            >>> async def main() -> str:
            ...     async with Runner.started(agent):
            ...         return (await Runner.run(agent, "hello")).outcome
            >>> anyio.run(main)
            'ok'
        """
        warmup = await warm_agent(agent)
        try:
            yield warmup
        finally:
            for model in (agent.fast, agent.tier_model("deep")):
                close = getattr(model, "aclose", None)
                if callable(close):
                    with anyio.CancelScope(shield=True):
                        await close()

    @staticmethod
    async def resume(
        agent: Agent,
        session_id: str,
        approvals: Approval | Iterable[Approval],
        *,
        budget_ms: float | None = None,
    ) -> TurnResult:
        """Continue the session's turn that ended ``awaiting_approval``, with a fresh budget.

        Approved calls run (no second approval check); rejected ones become
        tool results the model reads, with the reason; the tier that was
        running continues. Works across processes with a durable store.

        Args:
            agent: The agent (the same tools as the turn that stopped).
            session_id: ``TurnResult.session_id`` of the stopped turn.
            approvals: One `Approval` per waiting call (``TurnResult.approvals``).
            budget_ms: This continuation's budget (default ``agent.budget_ms``).

        Returns:
            The continued turn's result (possibly ``awaiting_approval`` again).

        Raises:
            ApprovalError: No turn waits in the session (never did, resumed or
                finished), or a decision names an unknown call or leaves one undecided.
            ApprovalExpiredError: The turn waited past ``agent.approval_ttl_s``.
            ConfigError: ``approvals`` are not `Approval` objects, or a bad budget.
        """
        return await resume_turn(agent, session_id, approvals, budget_ms=budget_ms, emit=_drop)

    @staticmethod
    def resume_sync(
        agent: Agent,
        session_id: str,
        approvals: Approval | Iterable[Approval],
        *,
        budget_ms: float | None = None,
    ) -> TurnResult:
        """`resume` from synchronous code (starts an event loop; not from inside one)."""

        async def main() -> TurnResult:
            return await Runner.resume(agent, session_id, approvals, budget_ms=budget_ms)

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
