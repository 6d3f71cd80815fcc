"""The model stage's policy: which tier runs, escalation, and what happens when a tier fails.

- routed fast: the fast tier runs to the end of the turn; a mid-stream
  escalation continues on deep; a fast failure tries deep (``degraded``);
- routed deep: the deep tier runs until ``fallback_reserve_ms`` before the
  end; slow, down or broken, the fast tier continues (``degraded``);
- nothing usable anywhere: the holding reply (``degraded``).
"""

from __future__ import annotations

import time

from agentkit._result import Outcome, Tier
from agentkit._turn import TierRun, TurnState, call_tier
from agentkit._turn_events import EscalationEvent

__all__ = ["after_run", "answer"]


def _prefix(st: TurnState) -> str:
    # A typed answer is JSON, released only whole: the next tier starts it afresh.
    if st.agent.output_type is not None:
        return ""
    if st.checker is not None and st.hops and st.checker.watches(st.hops[-1].tier):
        return st.checker.handover()  # what the answer check held back was never shown
    return "".join(st.round_text)


async def _fallback(st: TurnState, run: TierRun, end: float) -> tuple[Outcome, Tier | None]:
    """The deep tier did not answer: continue on fast, else the holding reply."""
    why = f"deep tier {run.status}" + (f": {run.error.message[:120]}" if run.error else "")
    st.reasons.append(why)
    if st.agent.fast is not None and time.monotonic() < end:
        st.emit(EscalationEvent("deep", "fast", why))
        fast = await call_tier(
            st, "fast", st.agent.fast, end, reason=f"fallback: {why}", prefix=_prefix(st)
        )
        if fast.status == "refused":
            return "refused", "fast"
    if st.generated_chars == 0 and not st.released:
        st.say(st.agent.holding_reply)
        return "degraded", None
    return "degraded", st.hops[-1].tier


async def answer(st: TurnState, tier: Tier, reason: str) -> tuple[Outcome, Tier | None]:
    """Run the model stage on the routed ``tier``, escalating or falling back by policy.

    Args:
        st: The turn.
        tier: The routed tier (one that has a model).
        reason: The routing reason, recorded on the first hop.

    Returns:
        The outcome and the tier whose text the user got (None for the holding reply).
    """
    agent, policy = st.agent, st.agent.policy
    deep = agent.tier_model("deep")
    end = st.deadline.before_end(policy.finish_reserve_ms)
    deep_end = end - (policy.fallback_reserve_ms / 1000.0 if agent.fast is not None else 0.0)
    if tier == "fast" and agent.fast is not None:
        run = await call_tier(st, "fast", agent.fast, end, reason=reason, escalate=deep is not None)
        if run.status == "escalate" and deep is not None and run.decision is not None:
            why = "; ".join(run.decision.reasons) or "escalated mid-stream"
            st.reasons.append(why)
            st.emit(EscalationEvent("fast", "deep", why))
            run = await call_tier(
                st, "deep", deep, deep_end, reason=f"escalated: {why}", prefix=_prefix(st)
            )
            return ("ok", "deep") if run.status == "done" else await _after_deep(st, run, end)
        if run.status == "failed" and deep is not None:
            st.emit(EscalationEvent("fast", "deep", "fast tier failed"))
            run = await call_tier(
                st, "deep", deep, end, reason="fast tier failed", prefix=_prefix(st)
            )
            return _simple(st, run, "deep", failed_ok="degraded")
        return _simple(st, run, "fast")
    assert deep is not None  # _route picks an existing tier
    run = await call_tier(st, "deep", deep, deep_end, reason=reason)
    return ("ok", "deep") if run.status == "done" else await _after_deep(st, run, end)


async def _after_deep(st: TurnState, run: TierRun, end: float) -> tuple[Outcome, Tier | None]:
    if run.status in ("refused", "max_rounds", "approval"):
        return _simple(st, run, "deep")
    return await _fallback(st, run, end)


async def after_run(
    st: TurnState, tier: Tier, run: TierRun, end: float
) -> tuple[Outcome, Tier | None]:
    """The outcome of a tier call made outside `answer` (a resumed turn), by the same policy."""
    if tier == "deep":
        return ("ok", "deep") if run.status == "done" else await _after_deep(st, run, end)
    return _simple(st, run, "fast")


def _simple(
    st: TurnState, run: TierRun, tier: Tier, failed_ok: Outcome = "ok"
) -> tuple[Outcome, Tier | None]:
    if run.status == "done":
        return failed_ok, tier
    if run.status == "refused":
        return "refused", tier
    if run.status == "deadline":
        return "budget_exceeded", tier
    if run.status == "approval":
        return "awaiting_approval", tier
    if run.error is not None:
        st.reasons.append(f"{tier} tier failed: {run.error.message[:120]}")
    if not st.released and st.generated_chars == 0:
        st.say(st.agent.holding_reply)
        return "degraded", None
    return "degraded", tier
