"""`SafetyPolicy`: how scores become an action, per category, stage and tier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from agentkit._safety_types import SafetyAction, SafetyStage
from agentkit.safety._allow import check_allow_phrases

__all__ = ["CATEGORIES", "SafetyPolicy", "strongest"]

CATEGORIES: tuple[str, ...] = (
    "sexual",
    "sexual/minors",
    "hate",
    "hate/threatening",
    "harassment",
    "self-harm",
    "violence",
    "violence/graphic",
    "illicit",
)
_SEVERITY: dict[str, int] = {"allow": 0, "redact": 1, "escalate": 2, "refuse": 3}
_ACTIONS = frozenset(_SEVERITY)
_DEFAULT_ACTIONS: dict[str, SafetyAction] = {
    "sexual/minors": "refuse",
    "hate/threatening": "refuse",
}


def strongest(actions: list[SafetyAction]) -> SafetyAction:
    """The most severe of ``actions`` (allow < redact < escalate < refuse)."""
    return max(actions, key=_SEVERITY.__getitem__, default="allow")


@dataclass(frozen=True)
class SafetyPolicy:
    """What the safety filter does with its scores. Validated at construction.

    Attributes:
        flag_threshold: Overall unsafe score (calibrated: 0.5 = fitted threshold)
            at which a text is flagged.
        category_thresholds: Per-category score at which a category is named.
        actions: Action per category when it is named; others get ``default_action``.
            By design flagged content goes deep (``escalate``); refusal is reserved
            for ``sexual/minors`` and ``hate/threatening`` by default.
        default_action: Action for a flagged text (or a named category without an entry).
        pii_redact_stages: Stages at which found PII turns the verdict into ``redact``.
        pii_redact_tiers: Tiers whose requests get PII redacted (see
            `LocalSafetyFilter.redact_for_tier`): by default the remote deep tier.
        injection_threshold: Prompt-injection score at which a tool result is acted on.
        injection_action: What to do with an injected tool result.
        refusal_text: The safe reply a caller returns on ``refuse``.
        stream_window_chars: Characters a stream guard holds back (about 6 tokens).
        stream_check_chars: Characters of new text that trigger a streaming re-check.
        allow_phrases: Phrases of the operator's domain that moderation does not
            score ("fake id", "phishing email", "kill the position"): each
            occurrence is taken out of the normalised text before the categories
            are scored; the rest of the text is still judged, and PII and
            injection checks still read everything (`agentkit.safety._allow`).
    """

    flag_threshold: float = 0.5
    category_thresholds: Mapping[str, float] = field(default_factory=dict)
    actions: Mapping[str, SafetyAction] = field(default_factory=lambda: dict(_DEFAULT_ACTIONS))
    default_action: SafetyAction = "escalate"
    pii_redact_stages: frozenset[SafetyStage] = frozenset({"output", "tool_result"})
    pii_redact_tiers: frozenset[str] = frozenset({"deep"})
    injection_threshold: float = 0.5
    injection_action: SafetyAction = "refuse"
    refusal_text: str = "Sorry, I can't help with that."
    stream_window_chars: int = 24
    stream_check_chars: int = 8
    allow_phrases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_allow_phrases(self.allow_phrases)
        for name in (*self.category_thresholds, *self.actions):
            if name not in CATEGORIES:
                raise ValueError(f"unknown category {name!r}; expected one of {CATEGORIES}")
        for action in (*self.actions.values(), self.default_action, self.injection_action):
            if action not in _ACTIONS:
                raise ValueError(f"unknown action {action!r}; expected one of {sorted(_ACTIONS)}")
        values = (self.flag_threshold, self.injection_threshold, *self.category_thresholds.values())
        if any(not 0.0 <= v <= 1.0 for v in values):
            raise ValueError("thresholds must lie in [0, 1]")
        if self.stream_window_chars < 0 or self.stream_check_chars < 1:
            raise ValueError("stream_window_chars must be >= 0 and stream_check_chars >= 1")

    def category_threshold(self, category: str) -> float:
        """The threshold at which ``category`` is named (default 0.5)."""
        return self.category_thresholds.get(category, 0.5)

    def action_for(self, category: str) -> SafetyAction:
        """The action for a named ``category``."""
        return self.actions.get(category, self.default_action)
