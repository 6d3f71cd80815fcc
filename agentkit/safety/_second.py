"""The harm second opinion (`router._harm`) folded into the filter's moderation scores.

Asked only about user input (the models were trained on user turns, not on
replies or tool results) and only when the rest of the filter did not flag the
text. When it flags, its score (shifted so its threshold sits at 0.5, like the
filter's other scores) raises the overall score and the strongest category whose
action is not ``refuse``: the second opinion says "harmful", not which harm, so
it sends a turn deep (the default action) and never refuses on its own. A
refusal needs a category's own evidence (lexicons, intent patterns, category
heads).
"""

from __future__ import annotations

from dataclasses import replace

from agentkit.safety._policy import CATEGORIES, SafetyPolicy
from agentkit.safety._scoring import ModerationScores
from router._harm import HarmOpinion, load_harm_model, second_opinion
from router._normalize import cap_text
from router._textcache import cached_features

__all__ = ["with_second_opinion"]


def with_second_opinion(
    text: str, scores: ModerationScores, policy: SafetyPolicy, model_path: str | None
) -> tuple[ModerationScores, HarmOpinion | None]:
    """``scores`` raised by the second opinion on a normalised input text, and the opinion.

    Returns the scores unchanged (and None) when they already flag the text or
    no harm model is usable.
    """
    if scores.unsafe >= policy.flag_threshold:
        return scores, None
    model = load_harm_model(model_path)
    if model is None:
        return scores, None
    opinion = second_opinion(text, model, cached_features(cap_text(text)))
    if not opinion.flagged:
        return scores, opinion
    cats = dict(scores.categories)
    allowed = [c for c in CATEGORIES if policy.action_for(c) != "refuse"] or list(CATEGORIES)
    target = max(allowed, key=cats.__getitem__)
    score = round(opinion.score, 4)
    cats[target] = max(cats[target], score)
    return replace(scores, unsafe=max(scores.unsafe, score), categories=cats), opinion
