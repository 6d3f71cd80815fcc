"""The check stage of a turn: an unsupported or empty fast answer is never released.

`start_check` attaches a `CheckStream` to the turn when the agent has an
``answer_check``; `TurnState.feed` then holds the checked tier's text back a
sentence at a time. `verify` runs after the model stage: it checks the held
tail and, when a claim is unsupported (or the tier gave no answer at all):

1. escalates to the deep tier (reason ``unsupported claim: ...``) when there is
   one, the turn has not been there yet, and ``min_escalate_ms`` are left;
2. else, on a turn routed to the checked tier, releases the grounding's quote
   (an extractive answer: outcome ``ok``);
3. else holds the answer: the supported sentences already shown stand, or the
   holding reply is sent (``degraded``). A fallback never guesses.

Every decision is a `CheckReport` (`TurnResult.check`) and a ``check`` span.
"""

from __future__ import annotations

import time

from agentkit._answer_check import CheckAction, CheckReport, CheckStream
from agentkit._policy import after_run
from agentkit._result import Outcome, Tier
from agentkit._turn import TurnState, call_tier
from agentkit._turn_events import EscalationEvent

__all__ = ["start_check", "verify"]


def start_check(st: TurnState) -> CheckStream | None:
    """The turn's check, when the agent has one (call once the messages are built)."""
    check = st.agent.answer_check
    if check is None or st.agent.output_type is not None:
        return None  # a typed answer is validated against its type instead
    question = st.context.message
    cache: list[str] = []

    def sources() -> list[str]:
        if not cache and check.grounding is not None:
            cache.extend(check.grounding.passages(question) or [""])
        said = [m.content for m in st.messages if m.content]
        return [*cache, *said]

    def tool_results() -> list[str]:
        own = st.messages[st.turn_start :]
        return [m.content for m in own if m.role == "tool" and m.content]

    return CheckStream(check=check, question=question, sources=sources, tool_results=tool_results)


def _report(
    stream: CheckStream, action: CheckAction, reason: str = "", confidence: float | None = None
) -> CheckReport:
    return CheckReport(
        tier=stream.tier or "fast",
        checked=stream.checked,
        unsupported=stream.failed,
        action=action,
        reason=reason,
        sources=stream.source_count,
        elapsed_ms=round(stream.elapsed_ms, 3),
        confidence=confidence,
    )


def _reason(stream: CheckStream) -> str:
    failed = stream.failed
    if stream.problem:
        return stream.problem
    if not failed:
        return f"{stream.tier or 'fast'} tier gave no answer"
    return "unsupported claim: " + "; ".join(c.text for c in failed[:3])[:200]


async def _escalate(st: TurnState, stream: CheckStream, reason: str) -> tuple[Outcome, Tier | None]:
    deep = st.agent.tier_model("deep")
    assert deep is not None  # checked by _act
    end = st.deadline.before_end(st.agent.policy.finish_reserve_ms)
    st.reasons.append(reason)
    st.emit(EscalationEvent(stream.tier or "fast", "deep", reason))
    run = await call_tier(st, "deep", deep, end, reason=reason, prefix=stream.handover())
    return await after_run(st, "deep", run, end)


async def _act(
    st: TurnState, stream: CheckStream, outcome: Outcome
) -> tuple[Outcome, Tier | None, CheckAction, str, float | None]:
    """The answer did not pass: escalate, quote or hold."""
    check, reason = stream.check, _reason(stream)
    routed_here = not any(h.tier != stream.tier for h in st.hops)
    end = st.deadline.before_end(st.agent.policy.finish_reserve_ms)
    left_ms = (end - time.monotonic()) * 1000.0
    has_deep = st.agent.tier_model("deep") is not None
    if check.escalate and has_deep and routed_here and left_ms >= check.min_escalate_ms:
        new_outcome, tier = await _escalate(st, stream, reason)
        return new_outcome, tier, "escalated", reason, None
    stream.handover()
    # A quote answers a question about the documents: not one a tool was asked about.
    used_tools = any(m.role == "tool" for m in st.messages[st.turn_start :])
    quotable = routed_here and not stream.shown and not used_tools
    quote = check.quote(stream.question) if quotable else None
    if quote is not None and outcome in ("ok", "degraded"):
        st.release(quote.text, stream.tier or "fast")
        st.reasons.append(f"{reason}; answered with a quote of {quote.key}")
        return "ok", stream.tier, "extracted", reason, quote.score
    st.reasons.append(reason)
    if not stream.shown:
        st.say(st.agent.holding_reply)
        return "degraded", None, "held", reason, None
    return ("degraded" if outcome == "ok" else outcome), stream.tier, "held", reason, None


async def verify(st: TurnState, outcome: Outcome, tier: Tier | None) -> tuple[Outcome, Tier | None]:
    """Check the answer of a checked tier before its last text is released; act when it fails.

    Args:
        st: The turn (``st.checker`` set by `start_check`, or None: nothing to do).
        outcome: The model stage's outcome.
        tier: The tier that answered (None: the holding reply was sent).

    Returns:
        The outcome and answering tier, after any escalation, quote or hold.
    """
    stream = st.checker
    if stream is None or tier is None or not stream.watches(tier):
        if stream is not None and stream.failed:  # failed, then escalated mid-stream
            stream.report = _report(stream, "escalated", _reason(stream))
        return outcome, tier
    if outcome in ("refused", "error", "awaiting_approval"):
        return outcome, tier
    stream.tier = stream.tier or tier  # set by the first text; an empty answer had none
    with st.trace.span("check") as span:
        passed = stream.finish(st.release)
        empty = not stream.shown.strip()
        if passed and not (empty and outcome in ("ok", "budget_exceeded")):
            stream.report = _report(stream, "released")
        else:
            outcome, tier, action, reason, confidence = await _act(st, stream, outcome)
            stream.report = _report(stream, action, reason, confidence)
        report = stream.report
        span.attributes.update(
            {
                "agentkit.check.action": report.action,
                "agentkit.check.claims": len(report.checked),
                "agentkit.check.unsupported": len(report.unsupported),
            }
        )
    return outcome, tier
