"""The result of one turn: text, outcome, every hop, and where the time went."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

from agentkit._approval_types import ApprovalRequest
from agentkit._check_types import CheckReport
from agentkit._messages import Usage
from agentkit._model import SpeculativeStats
from agentkit._safety_types import SafetyVerdict

__all__ = [
    "Attempt",
    "ErrorInfo",
    "Hop",
    "Outcome",
    "StageTimings",
    "Tier",
    "TierUsage",
    "TurnResult",
]

Tier = Literal["fast", "deep"]

Outcome = Literal["ok", "degraded", "refused", "budget_exceeded", "awaiting_approval", "error"]
"""How a turn ended.

- ``ok``: answered as routed.
- ``degraded``: answered, but not as planned (deep tier down or too slow → fast
  answer or holding reply).
- ``refused``: the safety policy refused the input or the output.
- ``budget_exceeded``: the budget ran out; ``text`` holds what was ready.
- ``awaiting_approval``: a tool call needs a person's decision;
  ``TurnResult.approvals`` lists them, `Runner.resume` continues the turn.
- ``error``: something unexpected; ``TurnResult.error`` says what.
"""


class ErrorInfo(BaseModel):
    """What went wrong in a turn whose outcome is ``error`` (or a degraded hop)."""

    model_config = ConfigDict(frozen=True)

    type: str
    message: str


class Attempt(BaseModel):
    """One model tried by a `FallbackModel` during a tier call, and how it ended.

    Attributes:
        model: The model's name.
        outcome: ``done`` (it answered), ``failed`` (a backend error: ``error``
            says which), ``skipped`` (its circuit breaker was open, or no time
            was left), ``deadline`` (it stopped at the deadline) or ``cancelled``
            (the caller stopped reading: an escalation, a refusal, the deadline).
        error: Why it did not answer, for ``failed`` and ``skipped``.
        elapsed_ms: Time spent on it.
    """

    model_config = ConfigDict(frozen=True)

    model: str
    outcome: Literal["done", "failed", "skipped", "deadline", "cancelled"]
    error: ErrorInfo | None = None
    elapsed_ms: float = 0.0


class Hop(BaseModel):
    """One tier visited during a turn, and why.

    Attributes:
        tier: The tier.
        reason: Why the turn visited it.
        model: The model that answered (with fallbacks, the one that did).
        outcome: How the tier call ended (``done``, ``deadline``, ``failed``, ...).
        attempts: With a `FallbackModel`, every model tried in order, so the
            hop says why the earlier ones did not answer; empty otherwise.
    """

    model_config = ConfigDict(frozen=True)

    tier: Tier
    reason: str
    model: str = ""
    outcome: str = "ok"
    attempts: tuple[Attempt, ...] = ()


class StageTimings(BaseModel):
    """Milliseconds spent per stage of the turn (``timings_ms``)."""

    safety_in: float = 0.0
    route: float = 0.0
    model: float = 0.0
    tools: float = 0.0
    safety_out: float = 0.0


class TierUsage(BaseModel):
    """Tokens and cost spent on one tier during a turn."""

    usage: Usage = Usage()
    cost_usd: float = 0.0
    calls: int = 0


class TurnResult(BaseModel):
    """Everything one turn produced.

    Attributes:
        text: The final text shown to the user.
        outcome: How the turn ended (see `Outcome`).
        tier: The tier that produced ``text`` (None when no model answered).
        hops: Every tier visited, in order, with its reason.
        reasons: The router's readable reasons for its decision.
        timings_ms: Time per stage.
        usage: Tokens and cost per tier.
        speculative: Speculative statistics when the fast tier ran.
        budget_ms: The effective turn budget.
        elapsed_ms: Wall time of the whole turn.
        safety: The input verdict.
        error: Details when ``outcome`` is ``error``.
        session_saved: Whether the turn reached the session store (None without
            a ``session_id``); when False, ``reasons`` says why. The answer
            stands either way: a store failure is an outcome note, not an error.
        turn_id: Identifier shared with logs and traces.
        warmup_ms: Time the turn waited, before its budget started, for parts
            still loading in the background (an `EngineModel` built moments
            before); not part of ``elapsed_ms``. 0 once everything is loaded.
        output: The validated value of the agent's ``output_type`` (string
            fields PII-redacted); None without one, or when no valid value came
            (refused, holding reply, budget): ``outcome`` says which.
        approvals: The tool calls waiting for a decision (``awaiting_approval``).
        session_id: The session the turn belongs to: the one given, or, for a
            turn that needs approval without one, the id to resume it with.
        check: What the agent's ``answer_check`` checked, found unsupported and
            did (None without one, or when no checked tier answered).
    """

    text: str
    outcome: Outcome
    tier: Tier | None = None
    hops: list[Hop] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    timings_ms: StageTimings = Field(default_factory=StageTimings)
    usage: dict[Tier, TierUsage] = Field(default_factory=dict)
    speculative: SpeculativeStats | None = None
    budget_ms: float
    elapsed_ms: float = 0.0
    safety: SafetyVerdict | None = None
    error: ErrorInfo | None = None
    session_saved: bool | None = None
    turn_id: str = ""
    warmup_ms: float = 0.0
    output: SerializeAsAny[BaseModel] | None = None
    approvals: list[ApprovalRequest] = Field(default_factory=list)
    session_id: str | None = None
    check: CheckReport | None = None
