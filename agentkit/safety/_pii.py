"""PII detection with checksums, and redaction.

Card numbers must pass the Luhn check and IBANs the ISO 13616 mod-97 check, so
order ids and phone numbers are not mistaken for them. `pii_settled` says how
much of a growing text (a stream) can no longer change its spans, reading each
pattern's reach from the pattern itself.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agentkit._safety_types import PIISpan

__all__ = [
    "PII_MAX_CHARS",
    "find_pii",
    "iban_valid",
    "luhn_valid",
    "pii_settled",
    "pii_sync_point",
    "redact",
]

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}\b")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_SSN = re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)")
_PHONE = re.compile(
    r"(?<![\w+])(?<!\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])"
    r"\d{3,4}[ .-]?\d{3,4}"
    r"(?![\w-])(?![ .-]?\d)"
)
# Shapes every match of the pattern above contains, written to open with a class so
# ``re`` skips to the next candidate in C; a text without the shape skips the pattern
# (whose leading lookbehinds would otherwise be tried at every character).
_CARD_SHAPE = re.compile(r"\d(?:[ -]?\d){12}")  # 13 digits, one separator at most between
_IBAN_SHAPE = re.compile(r"[A-Z][A-Z]\d\d")
_SSN_SHAPE = re.compile(r"\d\d\d-\d\d-\d")
_PHONE_SHAPE = re.compile(r"\d\d\d[ .-]?\d\d\d")  # in "\d{3,4}[ .-]?\d{3,4}"
_IBAN_LENGTHS = {
    "DE": 22,
    "GB": 22,
    "FR": 27,
    "ES": 24,
    "IT": 27,
    "NL": 18,
    "BE": 16,
    "CH": 21,
    "AT": 20,
    "PL": 28,
    "SE": 24,
    "IE": 22,
    "PT": 25,
    "DK": 18,
    "NO": 15,
    "FI": 18,
}


@dataclass(frozen=True)
class _Reach:
    """How far one pattern's match can depend on text, read from the pattern itself.

    Attributes:
        width: The longest match.
        ahead: Characters read past a match's end (its lookaheads, or the one
            character that ends a greedy repeat).
        alphabet: The classes a match consumes, as class syntax (None: any character).
    """

    width: int
    ahead: int
    alphabet: str | None

    @property
    def outside(self) -> re.Pattern[str] | None:
        """Matches one character no match can consume (None: any can be)."""
        return _outside(self.alphabet)


# ``re``'s own parser reads the patterns; it is private, so it stays behind this one
# seam, typed ``Any``, and a test pins what it derives.
_parser: Any = importlib.import_module("re._parser")
_consts: Any = importlib.import_module("re._constants")
_CATEGORY = {"CATEGORY_DIGIT": r"\d", "CATEGORY_WORD": r"\w", "CATEGORY_SPACE": r"\s"}


def _class_items(items: list[tuple[Any, Any]]) -> list[str] | None:
    """The items of a character class as class syntax; None if it is negated or unknown."""
    out: list[str] = []
    for op, arg in items:
        if op is _consts.LITERAL:
            out.append(re.escape(chr(arg)))
        elif op is _consts.RANGE:
            out.append(f"{re.escape(chr(arg[0]))}-{re.escape(chr(arg[1]))}")
        elif op is _consts.CATEGORY and str(arg) in _CATEGORY:
            out.append(_CATEGORY[str(arg)])
        else:
            return None
    return out


def _alphabet(tree: Any) -> tuple[list[str] | None, int]:
    """The classes a parsed pattern consumes (None: any character), and its lookahead."""
    classes: list[str] | None = []
    ahead = 1
    for op, arg in tree:
        found: list[str] | None
        if op in (_consts.ASSERT, _consts.ASSERT_NOT):
            if arg[0] == 1:  # a lookahead reads past the match; a lookbehind reads known text
                ahead = max(ahead, 1 + arg[1].getwidth()[1])
            continue
        if op is _consts.AT:
            continue  # \b reads the next character: covered by ahead >= 1
        if op is _consts.LITERAL:
            found = [re.escape(chr(arg))]
        elif op is _consts.IN:
            found = _class_items(arg)
        elif op in (_consts.MAX_REPEAT, _consts.MIN_REPEAT, _consts.SUBPATTERN, _consts.BRANCH):
            subs = arg[1] if op is _consts.BRANCH else [arg[-1]]
            found = []
            for sub in subs:
                sub_classes, sub_ahead = _alphabet(sub)
                ahead = max(ahead, sub_ahead)
                found = None if sub_classes is None or found is None else found + sub_classes
        else:
            found = None
        classes = None if found is None or classes is None else classes + found
    return classes, ahead


def _reach(pattern: re.Pattern[str]) -> _Reach:
    tree = _parser.parse(pattern.pattern, pattern.flags)
    classes, ahead = _alphabet(tree)
    if pattern.flags & re.IGNORECASE:
        classes = None  # case folding widens every class: assume any character
    return _Reach(int(tree.getwidth()[1]), ahead, "".join(classes) if classes else None)


@functools.cache
def _outside(alphabet: str | None) -> re.Pattern[str] | None:
    return re.compile(f"[^{alphabet}]") if alphabet else None


_PATTERNS = (_EMAIL, _CARD, _IBAN, _SSN, _PHONE)
_REACH = tuple(_reach(p) for p in _PATTERNS)
PII_MAX_CHARS: int = max(r.width + r.ahead for r in _REACH)
"""The longest stretch of text one PII match depends on: its longest match plus lookahead."""
# A character no pattern can consume: no match crosses it, so every scan passes there.
_BREAK = (
    None
    if any(r.alphabet is None for r in _REACH)
    else _outside("".join(r.alphabet or "" for r in _REACH))
)


def pii_sync_point(text: str, start: int, end: int) -> int:
    """The last offset in ``[start, end]`` just after a character no PII match can hold.

    ``find_pii(text, q)`` for such a ``q`` finds exactly the spans of
    ``find_pii(text)`` that start at ``q`` or later: no match (valid or not)
    crosses ``q``, so a scan from ``q`` is in step with a scan from 0. Returns
    ``start`` when ``[start, end]`` has none (``start`` must be one, e.g. 0).
    """
    if _BREAK is None or end <= start:
        return start
    hit = _BREAK.search(text[start:end][::-1])
    return start if hit is None else end - hit.start()


def pii_settled(text: str) -> int:
    """An offset of ``text`` before which its PII spans are final.

    Text appended to ``text`` cannot change a span of `find_pii` that starts
    before this offset, nor add one there. A match attempt at ``s`` consumes
    only characters its pattern can consume, at most its longest match, and reads
    ``ahead`` characters past where it stops: it is final once those reads
    fall inside ``text``. So the unsettled part is at most `PII_MAX_CHARS` long,
    and usually much shorter: it starts after the last character that no
    pattern could consume (a space for an e-mail address, a lower-case letter
    for a card or an IBAN).
    """
    settled = len(text)
    for reach in _REACH:
        last = len(text) - reach.ahead + 1  # reads of an attempt must stop before len(text)
        lowest = max(0, last - reach.width)
        start = lowest
        if reach.outside is not None:
            # The last character in text[lowest:last] no match can consume ends the run.
            hit = reach.outside.search(text[lowest:last][::-1])
            start = last - hit.start() if hit is not None else lowest
        settled = min(settled, max(0, start))
    return settled


def luhn_valid(number: str) -> bool:
    """Whether the digits of ``number`` pass the Luhn checksum (13-19 digits)."""
    digits = [int(c) for c in number if c.isdecimal()]  # \d: isdigit() also holds "²"
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """Whether ``iban`` passes the ISO 13616 mod-97 check (and known country lengths)."""
    s = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", s):
        return False
    if _IBAN_LENGTHS.get(s[:2], len(s)) != len(s):
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def find_pii(text: str, start: int = 0) -> tuple[PIISpan, ...]:
    """PII spans in ``text``, sorted and non-overlapping (earlier, longer spans win).

    Kinds: ``email``, ``card``, ``iban``, ``ssn``, ``phone``. With ``start``, the
    scan begins there (lookbehinds still see the text before it); see
    `pii_sync_point` for offsets where that equals a whole scan.
    """
    found: list[PIISpan] = []
    if text.find("@", start) >= 0:
        found += [
            PIISpan(kind="email", start=m.start(), end=m.end())
            for m in _EMAIL.finditer(text, start)
        ]
    if _IBAN_SHAPE.search(text, start):
        found += [
            PIISpan(kind="iban", start=m.start(), end=m.end())
            for m in _IBAN.finditer(text, start)
            if iban_valid(m.group())
        ]
    if _CARD_SHAPE.search(text, start):
        found += [
            PIISpan(kind="card", start=m.start(), end=m.end())
            for m in _CARD.finditer(text, start)
            if luhn_valid(m.group())
        ]
    if _SSN_SHAPE.search(text, start):
        found += [
            PIISpan(kind="ssn", start=m.start(), end=m.end()) for m in _SSN.finditer(text, start)
        ]
    if _PHONE_SHAPE.search(text, start):
        found += [
            PIISpan(kind="phone", start=m.start(), end=m.end())
            for m in _PHONE.finditer(text, start)
            if sum(c.isdigit() for c in m.group()) >= 9
        ]
    return _non_overlapping(found)


def _non_overlapping(spans: Iterable[PIISpan]) -> tuple[PIISpan, ...]:
    out: list[PIISpan] = []
    for span in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        if not out or span.start >= out[-1].end:
            out.append(span)
    return tuple(out)


def redact(text: str, spans: Iterable[PIISpan]) -> str:
    """``text`` with each span replaced by ``[KIND]`` (e.g. ``[EMAIL]``)."""
    parts, last = [], 0
    for span in sorted(spans, key=lambda s: s.start):
        if span.start < last:
            continue
        parts += [text[last : span.start], f"[{span.kind.upper()}]"]
        last = span.end
    parts.append(text[last:])
    return "".join(parts)
