"""The safety filter's contract: verdicts, PII spans and the `SafetyFilter` seam.

A filter runs on every call: the user's input before routing, tool results
before the model reads them, and the output before it leaves. While the output
streams, a `StreamGuard` holds back a small window so that nothing unchecked
reaches the user.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AllowAll",
    "GuardStep",
    "PIISpan",
    "SafetyAction",
    "SafetyFilter",
    "SafetyStage",
    "SafetyVerdict",
    "StreamGuard",
]

SafetyAction = Literal["allow", "redact", "escalate", "refuse"]
SafetyStage = Literal["input", "output", "tool_result"]


class PIISpan(BaseModel):
    """A piece of personal data found in a text: ``text[start:end]`` is of ``kind``."""

    model_config = ConfigDict(frozen=True)

    kind: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class SafetyVerdict(BaseModel):
    """What the filter decided about one text.

    Attributes:
        action: allow it, redact PII, escalate to the deep tier, or refuse.
        categories: Score in [0, 1] per moderation category.
        flagged: Whether any category crossed its threshold.
        pii: PII spans found in the checked text.
        injection: Prompt-injection score in [0, 1] (tool results, documents).
        reasons: Human-readable reasons for the action.
        redacted_text: The text with PII replaced, when ``action`` is ``redact``.
        latency_ms: Time the check took.
    """

    model_config = ConfigDict(frozen=True)

    action: SafetyAction = "allow"
    categories: dict[str, float] = Field(default_factory=dict)
    flagged: bool = False
    pii: tuple[PIISpan, ...] = ()
    injection: float = 0.0
    reasons: tuple[str, ...] = ()
    redacted_text: str | None = None
    latency_ms: float = 0.0


class GuardStep(BaseModel):
    """One step of a streaming check: the text now safe to release, and the verdict so far."""

    model_config = ConfigDict(frozen=True)

    released: str
    verdict: SafetyVerdict


class StreamGuard(Protocol):
    """Checks streamed output incrementally, holding back a small window."""

    def feed(self, delta: str) -> GuardStep:
        """Add generated text; return what may be released now."""
        ...

    def finish(self) -> GuardStep:
        """The stream ended; release (or withhold) the rest."""
        ...


@runtime_checkable
class SafetyFilter(Protocol):
    """The safety step. Implementations: `AllowAll` (default, double), the local classifier."""

    async def check(self, text: str, *, stage: SafetyStage) -> SafetyVerdict:
        """Score one complete text at the given stage."""
        ...

    def stream_guard(self) -> StreamGuard:
        """A fresh guard for one streamed output."""
        ...


class _PassThrough:
    """A guard that releases everything at once."""

    def feed(self, delta: str) -> GuardStep:
        return GuardStep(released=delta, verdict=SafetyVerdict())

    def finish(self) -> GuardStep:
        return GuardStep(released="", verdict=SafetyVerdict())


class AllowAll:
    """A safety filter that allows everything: the default until one is configured."""

    async def check(self, text: str, *, stage: SafetyStage) -> SafetyVerdict:
        """Allow ``text``."""
        return SafetyVerdict()

    def stream_guard(self) -> StreamGuard:
        """A guard that holds nothing back."""
        return _PassThrough()
