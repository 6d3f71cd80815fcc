"""The harm second opinion (`router._harm`) as the filter asks it.

Asked only about user input (the models were trained on user turns, not on
replies or tool results) of up to `SHORT_CHARS` characters (longer texts have
the sentence scan of `agentkit.safety._long_text`, and the gate would read a
different part of them than the embedding head), and only when the rest of the
filter did not flag the text. Its flag names no category: it says "harmful",
not which harm. So it never writes into the category scores, whose actions
would then decide for it (a Ponzi scheme reported as ``sexual``); the filter
acts on it with `opinion_action`: ``escalate``, or the policy's
``default_action`` when that is milder. It never refuses on its own.
"""

from __future__ import annotations

import functools

from agentkit._safety_types import SafetyAction
from agentkit.safety._long_text import SHORT_CHARS
from agentkit.safety._policy import SafetyPolicy
from router._harm import HarmOpinion, load_harm_model, second_opinion
from router._textcache import cached_features

__all__ = ["ask_second_opinion", "embedding_possible", "opinion_action"]


def ask_second_opinion(text: str, model_path: str | None) -> HarmOpinion | None:
    """The opinion on a normalised input text (None: too long, or no usable model)."""
    if len(text) > SHORT_CHARS:
        return None
    model = load_harm_model(model_path)
    if model is None:
        return None
    return second_opinion(text, model, cached_features(text))


def opinion_action(policy: SafetyPolicy) -> SafetyAction:
    """``escalate``, or the policy's default action when that is milder (never ``refuse``)."""
    return "escalate" if policy.default_action == "refuse" else policy.default_action


def embedding_possible() -> bool:
    """Whether the embedding layer can run: installed, and not already failed to load."""
    from router._embed import EmbeddingLayer

    return _installed() and not EmbeddingLayer.failed()


@functools.cache
def _installed() -> bool:
    """Whether the embedding layer's wheel, torch and tokenizers are installed (cached)."""
    from router._embed import EmbeddingLayer

    return EmbeddingLayer.available()
