"""Harmful-intent structure: a request frame, a harmful act and what it is aimed at.

The category lexicons match words; words alone do not tell "how do I kill a
Python process" from "how do I kill my neighbour". Structure does:

* a **request frame** ("how do I", "best way to", "help me", "I want to") shortly
  before an **act aimed at a person** (a verb right before a person, a body part,
  a corpse, a person's property or a crowded place), or before **making or getting**
  a weapon, a drug or malware, or **committing** a named crime;
* a **protected group** as the subject of a degrading claim, or of a question or
  demand that it lose rights (a non-protected group, "robots", does not match);
* a **self-harm method** (how many pills, ways to end it, cuts no one sees);
* **prying into a private person** (a relation's password, home address, ...);
* **praise of an atrocity** (why it was justified, how to replicate it).

History and definitions carry no frame and look-alikes no person target, so
neither matches; a game or fiction context damps a match. Verbs count in their
base and -ing forms only: past tenses describe events ("the gunman killed").

The patterns live in `agentkit.safety._intent_acts` (frames, acts, targets) and
`agentkit.safety._intent_people` (prying, self-harm, groups, atrocities, minors);
this module scores a text with them.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from agentkit.safety._intent_acts import (
    ACT_ANIMAL,
    ACT_CAR,
    ACT_CORPSE,
    ACT_PERSON,
    ACT_PROPERTY,
    CRIME,
    FICTION,
    FRAME,
    FRAME_WINDOW,
    GET_AWAY,
    HACK,
    IMPERATIVE,
    MAKE,
    MALWARE,
    STALK,
    VERBS,
)
from agentkit.safety._intent_people import (
    ATROCITY,
    FIRST_PERSON,
    GROUP,
    GROUP_LEADS,
    HATE_ACT,
    HATE_RESTRICT,
    IMPOSSIBLE,
    MINOR_SEX,
    NEGATIVE,
    PILLS,
    PRAISE,
    PRESCRIPT,
    PRYING,
    PRYING_OF,
    SELF_HARM,
    SLURS,
    SUPPORT,
)
from agentkit.safety._scan import TRIGGERS, WordIndex, found, index_prefix, scan

__all__ = ["intent_scores", "seeks_support"]

_STRONG = 0.85
_FICTION_DAMPING = 0.25  # a game or story keeps this share of a match
# A request states its intent early; scanning long web text costs ~2 ms at p99.
_SCAN_CHARS = 1024


def _gated(pattern: re.Pattern[str], leads: Collection[str]) -> bool:
    trigger = TRIGGERS.get(pattern)
    return trigger is None or not trigger.isdisjoint(leads)


def _framed(
    pattern: re.Pattern[str], low: str, leads: Collection[str], words: Collection[str] | None
) -> bool:
    """A match with a request frame in the `FRAME_WINDOW` characters before it."""
    if not _gated(pattern, leads):
        return False
    verbs = VERBS.get(pattern)
    if verbs is not None and words is not None and verbs.isdisjoint(words):
        return False
    for m in scan(pattern, low, leads):
        before = low[max(0, m.start() - FRAME_WINDOW) : m.start()]
        if FRAME.search(before) or IMPERATIVE.search(before):
            return True
    return False


def _hits(pattern: re.Pattern[str], low: str, leads: Collection[str]) -> bool:
    return found(pattern, low, leads)


def _hate(low: str, leads: Collection[str]) -> tuple[float, float]:
    """(hate, hate/threatening) from claims, rights and acts aimed at a protected group."""
    if _hits(SLURS, low, leads):
        return 0.75, 0.0
    if GROUP_LEADS.isdisjoint(leads):
        return 0.0, 0.0
    score = 0.0
    named = False  # a protected group is named at all
    for m in GROUP.finditer(low):
        named = True
        if HATE_ACT.search(low, max(0, m.start() - 40), m.start()):
            return _STRONG, _STRONG
        if NEGATIVE.match(low, m.end()):
            score = 0.75
    if score or not named:
        return score, 0.0
    for sentence in re.split(r"[.!?\n]+", low):
        found = HATE_RESTRICT.search(sentence) and GROUP.search(sentence)
        if found and PRESCRIPT.search(sentence) and not IMPOSSIBLE.search(sentence):
            return 0.75, 0.0
    return 0.0, 0.0


def seeks_support(low: str) -> bool:
    """Asks how to help someone else, or about the topic, with no first-person intent."""
    return SUPPORT.search(low) is not None and FIRST_PERSON.search(low) is None


def _self_harm(low: str, leads: Collection[str]) -> float:
    if not (_hits(SELF_HARM, low, leads) or ("how" in leads and PILLS.search(low))):
        return 0.0
    return 0.3 if seeks_support(low) else _STRONG


def intent_scores(
    low: str, leads: Collection[str], words: Collection[str] | None = None
) -> dict[str, float]:
    """Per-category scores of harmful-intent structure in a lower-cased text.

    Args:
        low: The normalised, lower-cased text.
        leads: The first three letters of each of its words (pattern gating), or its
            `WordIndex` (from `index_words`).
        words: Its words (``[a-z]+`` runs), for finer gating; None skips that gate.

    Returns:
        Scores in [0, 1] for the categories where a structure matched (others absent).
    """
    if len(low) > _SCAN_CHARS and isinstance(leads, WordIndex) and leads.text == low:
        words, leads = index_prefix(leads, _SCAN_CHARS)  # gate on the part read
    low = low[:_SCAN_CHARS]
    out: dict[str, float] = {}
    if any(
        _framed(p, low, leads, words)
        for p in (ACT_PERSON, ACT_ANIMAL, ACT_CORPSE, ACT_PROPERTY, ACT_CAR)
    ):
        out["violence"] = _STRONG
    if any(_framed(p, low, leads, words) for p in (CRIME, MAKE, MALWARE, HACK)):
        out["illicit"] = _STRONG
    if _framed(GET_AWAY, low, leads, words):
        out["illicit"] = _STRONG
    if (
        _hits(PRYING, low, leads)
        or _hits(PRYING_OF, low, leads)
        or _framed(STALK, low, leads, words)
    ):
        out["harassment"] = 0.75
    hate, threat = _hate(low, leads)
    if hate:
        out["hate"] = hate
    if threat:
        out["hate/threatening"] = threat
    if _hits(PRAISE, low, leads) and ATROCITY.search(low):
        out["violence"] = max(out.get("violence", 0.0), 0.75)
    if self_harm := _self_harm(low, leads):
        out["self-harm"] = self_harm
    if _hits(MINOR_SEX, low, leads):
        out["sexual/minors"] = 0.9
    if out and FICTION.search(low):
        # A game or a story: the act is not aimed at a real person (self-harm and
        # minors stay: no context makes those benign).
        for cat in out.keys() - {"self-harm", "sexual/minors"}:
            out[cat] *= _FICTION_DAMPING
    return out
