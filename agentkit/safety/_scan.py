"""Pattern building and gated scanning for the safety lexicons and intent patterns.

Every pattern is a word-bounded alternation built by `words`, which records the
leading letters its matches need. `scan` uses them twice: a text none of whose
words starts with those letters skips the pattern, and where every match starts
at such a word the pattern is anchored at those words only. Python's ``re`` gets
no fast prefix scan for a big alternation after ``\\b``, so a plain search tries
it at every character; anchoring about halved the lexicon time on long texts.
"""

from __future__ import annotations

import re

__all__ = ["TRIGGERS", "scan", "words"]

# Leading letters of each pattern's alternatives: a pattern runs only when a word of
# the text starts with one of them (most texts skip every pattern). None: always run.
TRIGGERS: dict[re.Pattern[str], frozenset[str] | None] = {}
# Patterns every match of which *starts* a word with one of these letters (triggers
# taken from the alternatives themselves): `scan` tries them at those words only.
_STARTS: dict[re.Pattern[str], frozenset[str]] = {}
_LEAD = re.compile(r"[a-z]{3}(?![?*+{])")  # a quantifier would make the third letter optional


def words(
    *alternatives: str, suffix: str = "", leads: str | None = None, starts: bool = False
) -> re.Pattern[str]:
    """``\\b(?:alt|alt...)suffix`` compiled, with its trigger letters recorded.

    Texts are lower-cased once by the caller: IGNORECASE costs ~4x per pattern.

    Args:
        alternatives: Regex alternatives; each one's first three letters are its trigger.
        suffix: Regex after the alternation.
        leads: Trigger letters given by hand, for alternatives that open with a group:
            every match contains a word starting with one of them.
        starts: With ``leads``: every match also *starts* at such a word (anchorable).
    """
    pattern = re.compile(r"\b(?:" + "|".join(alternatives) + r")" + suffix)
    found = [_LEAD.match(a) for a in alternatives]
    trigger = frozenset(m.group() for m in found if m) if all(found) else None
    TRIGGERS[pattern] = frozenset(leads.split()) if leads else trigger
    if starts and leads:
        _STARTS[pattern] = frozenset(leads.split())
    elif not leads and trigger is not None and not any(map(_has_top_bar, alternatives)):
        _STARTS[pattern] = trigger
    return pattern


def _has_top_bar(alternative: str) -> bool:
    """Whether ``alternative`` is itself several alternatives (a ``|`` outside groups)."""
    depth, i = 0, 0
    while i < len(alternative):
        c = alternative[i]
        if c == "\\":
            i += 1
        elif c == "[":
            i = alternative.index("]", i + 2)  # "[]...]" cannot occur in these lists
        elif c in "()":
            depth += 1 if c == "(" else -1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


def _occurrences(text: str, lead: str) -> list[int]:
    out = []
    i = text.find(lead)
    while i >= 0:
        out.append(i)
        i = text.find(lead, i + 1)
    return out


def scan(pattern: re.Pattern[str], text: str, leads: set[str]) -> list[re.Match[str]]:
    """``list(pattern.finditer(text))``, skipping work the text's words rule out.

    A pattern runs only when a word of the text starts with one of its trigger
    letters; where every match starts at such a word, the pattern is anchored at
    those words instead of searched along the whole text (a big alternation after
    ``\\b`` gets no fast prefix scan in ``re``, so a search tries it at every
    character). Non-overlapping, leftmost first: the same matches as ``finditer``.

    Args:
        pattern: A pattern built by `_words` (others are searched plainly).
        text: The lower-cased text.
        leads: The first three letters of each of the text's words.
    """
    trigger = TRIGGERS.get(pattern)
    if trigger is None:
        return list(pattern.finditer(text))
    present = trigger.intersection(leads)
    if not present:
        return []
    if pattern not in _STARTS:
        return list(pattern.finditer(text))
    out: list[re.Match[str]] = []
    end = 0
    for pos in sorted(p for lead in present for p in _occurrences(text, lead)):
        if pos >= end and (m := pattern.match(text, pos)) is not None:
            out.append(m)
            end = m.end()
    return out
