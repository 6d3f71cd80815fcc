"""What the answer check reports: `CheckReport` (`TurnResult.check`) and its claims.

Kept apart from `agentkit._answer_check` so that `agentkit._result` can hold a
report without importing the check.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agentkit._claims import ClaimKind

__all__ = ["CheckAction", "CheckReport", "CheckedClaim"]

CheckAction = Literal["released", "escalated", "extracted", "held"]
"""What the check did: released the answer as it was; escalated to the deep tier;
replaced it by a quote of the grounding (an extractive answer); or held it back
(the holding reply, or only the supported part when no time was left)."""


class CheckedClaim(BaseModel):
    """One claim of an answer and whether its grounding supports it."""

    model_config = ConfigDict(frozen=True)

    kind: ClaimKind
    text: str
    supported: bool


class CheckReport(BaseModel):
    """What the answer check looked at, what failed, and what it did (`TurnResult.check`).

    Attributes:
        tier: The tier whose answer was checked.
        checked: Every claim found, supported or not.
        unsupported: The claims no source supports (empty when released).
        action: What the check did (see `CheckAction`).
        reason: Why, when it did not release the answer (``unsupported claim: ...``).
        sources: How many texts grounded the check.
        elapsed_ms: Time spent checking.
        confidence: The quote's confidence, when the check answered with one.
    """

    model_config = ConfigDict(frozen=True)

    tier: Literal["fast", "deep"]
    checked: list[CheckedClaim] = Field(default_factory=list)
    unsupported: list[CheckedClaim] = Field(default_factory=list)
    action: CheckAction = "released"
    reason: str = ""
    sources: int = 0
    elapsed_ms: float = 0.0
    confidence: float | None = None
