"""Pattern building and gated scanning for the safety lexicons and intent patterns.

Every pattern is a word-bounded alternation built by `words`, which records the
leading letters its matches need. `scan` uses them twice: a text none of whose
words starts with those letters skips the pattern, and where every match starts
at such a word the pattern is anchored at those words only. Python's ``re`` gets
no fast prefix scan for a big alternation after ``\\b``, so a plain search tries
it at every character; anchoring about halved the lexicon time on long texts.

`index_words` returns the text's leads as a `WordIndex`: a set (gates test it as
fast as any set) that also lists, on first use, where words start by leading letters,
so that on a long text `scan` tries a pattern at those word starts only, not at every
occurrence of the letters (inside other words too).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Collection, Iterable

import numpy as np

__all__ = [
    "TRIGGERS",
    "WordIndex",
    "found",
    "index_prefix",
    "index_words",
    "scan",
    "word_leads",
    "words",
]

_WORD = re.compile(r"[a-z]+")
_WORD_SPLIT = re.compile(r"([a-z]+)")
_WORD_REST = re.compile(r"[a-z]*")
# Below this length `str.find` on the letters is cheaper than listing every word start.
_INDEX_MIN_CHARS = 1024

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


class WordIndex(frozenset[str]):
    """The leading letters (first three) of a lower-cased text's words, as a set.

    Being a set keeps the gates (``trigger.isdisjoint(leads)``) fast; `positions`
    lists where words with given letters start, built once, on first use.
    """

    __slots__ = ("_positions", "text")
    text: str
    _positions: dict[str, list[int]] | None

    def __new__(cls, text: str, leads: Iterable[str]) -> WordIndex:
        self = super().__new__(cls, leads)
        self.text = text
        self._positions = None
        return self

    def positions(self, lead: str) -> list[int]:
        """Ascending starts of the ``[a-z]+`` words of `text` whose first letters are ``lead``."""
        if self._positions is None:
            self._positions = _word_starts(self.text)
        return self._positions.get(lead, [])


def _word_starts(text: str) -> dict[str, list[int]]:
    # One split in C gives [gap, word, gap, word, ..., gap]; a word starts where the
    # running length of the parts before it ends. Cheaper than a match object a word.
    parts = _WORD_SPLIT.split(text)
    starts = itertools.accumulate(map(len, parts))
    index: dict[str, list[int]] = {}
    for word, start in zip(parts[1::2], itertools.islice(starts, 0, None, 2), strict=False):
        at = index.get(word[:3])
        if at is None:
            index[word[:3]] = [start]
        else:
            at.append(start)
    return index


def index_words(text: str) -> tuple[set[str], WordIndex]:
    """The ``[a-z]+`` words of a lower-cased text, and its `WordIndex`."""
    words = set(_WORD.findall(text))
    return words, WordIndex(text, {w[:3] for w in words})


def index_prefix(index: WordIndex, chars: int) -> tuple[set[str], WordIndex]:
    """`index_words` for the first ``chars`` characters of ``index.text``, for gating.

    Words keep their full spelling (a word cut at the end is listed whole, as in the
    full text), so the gates are exactly the full text's for every match that lies in
    the prefix; positions stay those of the full text (`scan` cuts them).
    """
    text = index.text
    end = chars
    if 0 < chars < len(text) and "a" <= text[chars - 1] <= "z":
        rest = _WORD_REST.match(text, chars)  # the rest of the word the cut splits
        end = rest.end() if rest else chars
    words = set(_WORD.findall(text, 0, end))
    prefix = WordIndex(text, {w[:3] for w in words})
    prefix._positions = index._positions  # shared: built at most once a text
    return words, prefix


def word_leads(text: str) -> set[str]:
    """``{w[:3] for w in re.findall("[a-z]+", text)}``, in NumPy for long texts.

    A megabyte holds ~170 000 words: ``findall`` makes a string of each (~50 ms);
    here word starts and their first three letters are found on the bytes.
    """
    if len(text) < _INDEX_MIN_CHARS:
        return {w[:3] for w in _WORD.findall(text)}
    data = np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)  # one byte a char
    letter = (data >= ord("a")) & (data <= ord("z"))
    starts = np.flatnonzero(letter[1:] & ~letter[:-1]) + 1
    if letter.size and letter[0]:
        starts = np.concatenate([[0], starts])
    # Each lead as one number: first letter (0-25) and the next two (0 = none, 1-26).
    rank = np.where(letter, data.astype(np.int64) - ord("a") + 1, 0)  # 0 for a non-letter
    rank = np.concatenate([rank, [0, 0]])
    second = rank[starts + 1]
    third = np.where(second > 0, rank[starts + 2], 0)
    code = (rank[starts] - 1) * 729 + second * 27 + third
    present = np.flatnonzero(np.bincount(code, minlength=26 * 729))
    return {_lead(int(c)) for c in present}


def _lead(code: int) -> str:
    first, rest = divmod(code, 729)
    second, third = divmod(rest, 27)
    letters = [chr(ord("a") + first)]
    letters += [chr(ord("a") + c - 1) for c in (second, third) if c]
    return "".join(letters)


def _occurrences(text: str, lead: str) -> list[int]:
    out = []
    i = text.find(lead)
    while i >= 0:
        out.append(i)
        i = text.find(lead, i + 1)
    return out


def _candidates(text: str, present: Collection[str], leads: Collection[str]) -> list[int]:
    """Where a match may start: word starts (long text with an index) or any occurrence."""
    if isinstance(leads, WordIndex) and len(text) > _INDEX_MIN_CHARS:
        # The index may be of a longer text (intent reads a prefix): cut at its end.
        n = len(text)
        if len(present) == 1:
            at = leads.positions(next(iter(present)))
            return at[: bisect.bisect_left(at, n)]
        return sorted(p for lead in present for p in leads.positions(lead) if p < n)
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
