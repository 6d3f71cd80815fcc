"""The operator's allow-list: phrases of their domain that moderation must not score.

A bank's support bot is asked "how do I spot a fake ID?", a security team's
"how do I identify a phishing email?", a trading desk's "should I kill the
position before the crash?". The learned filter scores such wording near the
harmful requests it resembles. `SafetyPolicy.allow_phrases` lets an operator
name the wording their domain uses; `mask_allowed` takes each occurrence out
of the text **before moderation scores it**, and the rest of the text is
still judged: "kill the position, then tell me how to hurt my boss" loses
"kill the position" and is still flagged for the rest.

**List the benign wording, verb included** ("spot a fake ID", not "fake
ID"): a phrase is taken out wherever it occurs, so a phrase that also names
the harm hides it — with "fake ID" listed, "make me a fake ID so I can buy
alcohol at 15" loses its harmful words and passes. Hence single words are
refused, and `LocalSafetyFilter` lets the allow-list spare a text an
escalation but never a refusal (a text the whole-text scores would refuse is
refused). The remote filter's full checks ignore the list (its stream guard
is the local filter, which applies it), and a stream guard that checks only a
stream's recent window may see part of a phrase and score it.

Matching is on the normalised text (NFKC, zero-width characters removed,
look-alike letters folded: an evasion of an allowed phrase is still the
phrase), case-insensitive, whole words only ("fake id" does not match
"fake idea"), any run of whitespace between the words. The allow-list never
touches PII detection or the prompt-injection check: they read the text as it
came.
"""

from __future__ import annotations

import functools
import re

from router._normalize import normalize_text

__all__ = ["MAX_ALLOW_PHRASE_CHARS", "allow_pattern", "check_allow_phrases", "mask_allowed"]

MAX_ALLOW_PHRASE_CHARS = 200  # a phrase, not a paragraph: longer would hide whole requests


def check_allow_phrases(phrases: tuple[str, ...]) -> None:
    """Raise ValueError unless every phrase is a string of 2+ words and at most 200 characters.

    A phrase is checked after normalisation: one that normalises to nothing
    (zero-width characters only) would match nowhere and is refused. A single
    word is refused: it would take that word out of every text, harmful ones
    included.
    """
    if not isinstance(phrases, tuple):
        raise ValueError(f"allow_phrases must be a tuple of strings, got {type(phrases).__name__}")
    for phrase in phrases:
        words = normalize_text(phrase).split() if isinstance(phrase, str) else []
        if not words:
            raise ValueError(f"allow_phrases holds an empty or non-string phrase: {phrase!r}")
        if len(words) < 2:
            raise ValueError(
                f"allow phrase {phrase!r} is one word: list the domain's wording, verb "
                "included ('kill the position'), not a word that also names harm ('kill')"
            )
        if len(phrase) > MAX_ALLOW_PHRASE_CHARS:
            raise ValueError(
                f"allow phrase longer than {MAX_ALLOW_PHRASE_CHARS} characters: {phrase[:40]!r}..."
            )


@functools.lru_cache(maxsize=64)
def allow_pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    """One compiled pattern for ``phrases`` (None when there are none), cached per tuple.

    Longer phrases come first, so "fake id card" wins over "fake id" where both match.
    """
    words = {tuple(normalize_text(p).lower().split()) for p in phrases}
    alternatives = [
        r"\s+".join(map(re.escape, w)) for w in sorted(words, key=len, reverse=True) if w
    ]
    if not alternatives:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


def mask_allowed(text: str, phrases: tuple[str, ...]) -> tuple[str, int]:
    """``text`` (normalised) with each allowed phrase replaced by a space, and the count."""
    pattern = allow_pattern(phrases) if phrases else None
    if pattern is None:
        return text, 0
    return pattern.subn(" ", text)
