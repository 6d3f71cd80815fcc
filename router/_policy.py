"""`RouterPolicy`: what the operator decides (thresholds, forced routes, preference)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["REASONS", "Preference", "RouterPolicy"]

REASONS: tuple[str, ...] = ("math", "logic", "flagged", "code", "long_context", "depth")
Preference = Literal["quality", "balanced", "latency"]

# A preference moves every threshold on the calibrated scale: "quality" escalates
# earlier (more deep calls, fewer missed hard turns), "latency" later.
_PREFERENCE_SHIFT = {"quality": -0.15, "balanced": 0.0, "latency": 0.15}


@dataclass(frozen=True)
class RouterPolicy:
    """Routing policy, validated at construction.

    Scores are calibrated so that 0.5 is the threshold fitted on validation data
    (see docs/routing.md), hence the default of 0.5 for every reason.

    Attributes:
        thresholds: Threshold per reason on the calibrated scale; missing ones are 0.5.
        always_deep: Reasons that send a turn deep whenever their score is above 0.
            Useful for e.g. ``{"flagged"}`` with a permissive safety threshold.
        never_deep: Reasons that are reported but never escalate (``code`` by
            default: inline completion is routine).
        preference: ``quality``, ``balanced`` or ``latency``: shifts all thresholds.
        long_context_chars: Characters of message + history + tool results at which
            ``long_context`` scores 0.5.
        min_drafted: Draft tokens to observe before judging acceptance mid-stream.
        min_acceptance: A fast stream whose acceptance falls below this escalates.
        min_tokens: Tokens to observe before judging confidence mid-stream.
        min_mean_logprob: A fast stream whose mean log-probability falls below this escalates.
        on_model_error: When the trained model file is missing or corrupt:
            ``structural`` scores with layer 1 only, ``deep`` sends every turn deep.
        model_path: A trained model file; None uses the bundled one.
        use_embeddings: Blend in the MiniLM embedding layer (needs torch; ~10 ms).
    """

    thresholds: Mapping[str, float] = field(default_factory=dict)
    always_deep: frozenset[str] = frozenset()
    never_deep: frozenset[str] = frozenset({"code"})
    preference: Preference = "balanced"
    long_context_chars: int = 24_000
    min_drafted: int = 16
    # Measured here (docs/benchmarks.md, 2026-11-28): with the shipped drafters the default
    # model's acceptance is ~0.35-0.45 on routine, chat and math alike, so the seed's 0.8
    # would escalate every turn. Only a real collapse escalates; confidence does the rest.
    min_acceptance: float = 0.15
    min_tokens: int = 16
    min_mean_logprob: float = -2.5
    on_model_error: Literal["structural", "deep"] = "structural"
    model_path: str | None = None
    use_embeddings: bool = False

    def __post_init__(self) -> None:
        for name in (*self.thresholds, *self.always_deep, *self.never_deep):
            if name not in REASONS:
                raise ValueError(f"unknown routing reason {name!r}; expected one of {REASONS}")
        for name, value in self.thresholds.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"threshold for {name!r} must be in [0, 1], got {value}")
        if self.always_deep & self.never_deep:
            raise ValueError(
                f"reasons both always and never deep: {self.always_deep & self.never_deep}"
            )
        if self.preference not in _PREFERENCE_SHIFT:
            raise ValueError(f"preference must be one of {tuple(_PREFERENCE_SHIFT)}")
        if self.long_context_chars <= 0 or self.min_drafted < 0 or self.min_tokens < 0:
            raise ValueError("long_context_chars must be positive; min_drafted, min_tokens >= 0")
        if not 0.0 <= self.min_acceptance <= 1.0:
            raise ValueError("min_acceptance must be in [0, 1]")
        if self.on_model_error not in ("structural", "deep"):
            raise ValueError("on_model_error must be 'structural' or 'deep'")

    def threshold(self, reason: str) -> float:
        """The effective threshold of ``reason`` after the preference shift."""
        base = self.thresholds.get(reason, 0.5)
        return min(1.0, max(0.0, base + _PREFERENCE_SHIFT[self.preference]))

    def escalates(self, reason: str, score: float) -> bool:
        """Whether ``score`` for ``reason`` sends a turn deep under this policy."""
        if reason in self.never_deep:
            return False
        if reason in self.always_deep:
            return score > 0.0
        return score >= self.threshold(reason)
