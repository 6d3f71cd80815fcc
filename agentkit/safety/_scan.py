"""Pattern building and gated scanning for the safety lexicons and intent patterns.

Every pattern is a word-bounded alternation built by `words`, which records the
leading letters its matches need. `scan` uses them twice: a text none of whose
words starts with those letters skips the pattern, and where every match starts
at such a word the pattern is anchored at those words only. Python's ``re`` gets
no fast prefix scan for a big alternation after ``\\b``, so a plain search tries
it at every character; anchoring about halved the lexicon time on long texts.

`index_words` lists where each word starts once per text, by leading letters; given
that index instead of a set of leads, `scan` tries a pattern at those word starts
only, not at every occurrence of the letters (inside other words too).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Collection

__all__ = ["TRIGGERS", "WordIndex", "found", "index_prefix", "index_words", "scan", "words"]

# Leading letters (a word's first three) -> start of each ``[a-z]+`` word with them.
WordIndex = dict[str, list[int]]
_WORD_SPLIT = re.compile(r"([a-z]+)")

# Leading letters of each pattern's alternatives: a pattern runs only when a word of
# the text starts with one of them (most texts skip every pattern). None: always run.
TRIGGERS: dict[re.Pattern[str], frozenset[str] | None] = {}
# Patterns every match of which *starts* a word with one of these letters (triggers
# taken from the alternatives themselves): `scan` tries them at those words only.
_STARTS: dict[re.Pattern[str], frozenset[str]] = {}
_LEAD = re.compile(r"[a-z]{3}(?![?*+{])")  # a quantifier would make the third letter optional


def words(
    *alternatives: str,
    suffix: str = "",
    leads: str | None = None,
    starts: bool = False,
    anchors: str | None = None,
) -> re.Pattern[str]:
    """``\\b(?:alt|alt...)suffix`` compiled, with its trigger letters recorded.

    Texts are lower-cased once by the caller: IGNORECASE costs ~4x per pattern.

    Args:
        alternatives: Regex alternatives; each one's first three letters are its trigger.
        suffix: Regex after the alternation.
        leads: Trigger letters given by hand, for alternatives that open with a group:
            every match contains a word starting with one of them.
        starts: With ``leads``: every match also *starts* at such a word (anchorable).
        anchors: With ``leads``: leading letters of the word every match starts at, where
            those differ from the trigger (``i'll kill``: gated on ``kil``, anchored at ``i``).
            Worth it only with a `WordIndex`: short leads occur inside many words.
    """
    pattern = re.compile(r"\b(?:" + "|".join(alternatives) + r")" + suffix)
    found = [_LEAD.match(a) for a in alternatives]
    trigger = frozenset(m.group() for m in found if m) if all(found) else None
    TRIGGERS[pattern] = frozenset(leads.split()) if leads else trigger
    if anchors and leads:
        _STARTS[pattern] = frozenset(anchors.split())
    elif starts and leads:
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


def index_words(text: str) -> tuple[dict[str, int], WordIndex]:
    """Where the ``[a-z]+`` words of a lower-cased text first start, and where words start
    by leading letters (both in text order)."""
    # One split in C gives [gap, word, gap, word, ..., gap]; a word starts where the
    # running length of the parts before it ends. Cheaper than a match object a word.
    parts = _WORD_SPLIT.split(text)
    words = parts[1::2]
    starts = list(itertools.accumulate(map(len, parts)))[0::2]
    first = dict(zip(reversed(words), reversed(starts[: len(words)]), strict=True))
    index: WordIndex = {}
    for word, start in zip(words, starts, strict=False):  # `starts` has one more
        at = index.get(word[:3])
        if at is None:
            index[word[:3]] = [start]
        else:
            at.append(start)
    return first, index


def index_prefix(
    first: dict[str, int], index: WordIndex, chars: int
) -> tuple[dict[str, int], WordIndex]:
    """`index_words` of a text cut to its first ``chars`` characters, for gating.

    Words keep their full spelling (a word cut at the end is listed whole, as in
    the full text), so gates are exactly those of the full text for every match
    that lies in the prefix; positions are not cut (`scan` cuts them).
    """
    if not first or max(first.values()) < chars:
        return first, index
    return (
        {w: p for w, p in first.items() if p < chars},
        {lead: at for lead, at in index.items() if at[0] < chars},
    )


def _occurrences(text: str, lead: str) -> list[int]:
    out = []
    i = text.find(lead)
    while i >= 0:
        out.append(i)
        i = text.find(lead, i + 1)
    return out


def _candidates(text: str, present: Collection[str], leads: Collection[str]) -> list[int]:
    """Where a match may start: word starts (with an index) or any occurrence of the letters."""
    if isinstance(leads, dict):
        # The index may be of a longer text (intent reads a prefix): cut at its end.
        n = len(text)
        if len(present) == 1:
            at: list[int] = leads.get(next(iter(present)), [])
            return at[: bisect.bisect_left(at, n)]
        return sorted(p for lead in present for p in leads.get(lead, ()) if p < n)
    return sorted(p for lead in present for p in _occurrences(text, lead))


def scan(pattern: re.Pattern[str], text: str, leads: Collection[str]) -> list[re.Match[str]]:
    """``list(pattern.finditer(text))``, skipping work the text's words rule out.

    A pattern runs only when a word of the text starts with one of its trigger
    letters; where every match starts at such a word, the pattern is anchored at
    those words instead of searched along the whole text (a big alternation after
    ``\\b`` gets no fast prefix scan in ``re``, so a search tries it at every
    character). Non-overlapping, leftmost first: the same matches as ``finditer``.

    Args:
        pattern: A pattern built by `words` (others are searched plainly).
        text: The lower-cased text.
        leads: The first three letters of each of the text's words, as a set or as
            the `WordIndex` of ``text`` (or of a text it is a prefix of).
    """
    trigger = TRIGGERS.get(pattern)
    if trigger is None:
        return list(pattern.finditer(text))
    if trigger.isdisjoint(leads):
        return []
    starts = _STARTS.get(pattern)
    if starts is None:
        return list(pattern.finditer(text))
    present = starts.intersection(leads)
    out: list[re.Match[str]] = []
    end = 0
    match = pattern.match
    for pos in _candidates(text, present, leads):
        if pos >= end and (m := match(text, pos)) is not None:
            out.append(m)
            end = m.end()
    return out


def found(pattern: re.Pattern[str], text: str, leads: Collection[str]) -> bool:
    """``pattern.search(text) is not None``, gated and anchored like `scan`."""
    trigger = TRIGGERS.get(pattern)
    if trigger is not None and trigger.isdisjoint(leads):
        return False
    starts = _STARTS.get(pattern)
    if starts is None:
        return pattern.search(text) is not None
    match = pattern.match
    present = starts.intersection(leads)
    return any(match(text, pos) is not None for pos in _candidates(text, present, leads))
