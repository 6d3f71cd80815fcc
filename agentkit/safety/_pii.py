"""PII detection with checksums, and redaction.

Card numbers must pass the Luhn check and IBANs the ISO 13616 mod-97 check, so
order ids and phone numbers are not mistaken for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from agentkit._safety_types import PIISpan

__all__ = ["find_pii", "iban_valid", "luhn_valid", "redact"]

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


def luhn_valid(number: str) -> bool:
    """Whether the digits of ``number`` pass the Luhn checksum (13-19 digits)."""
    digits = [int(c) for c in number if c.isdigit()]
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


def find_pii(text: str) -> tuple[PIISpan, ...]:
    """PII spans in ``text``, sorted and non-overlapping (earlier, longer spans win).

    Kinds: ``email``, ``card``, ``iban``, ``ssn``, ``phone``.
    """
    found: list[PIISpan] = []
    if "@" in text:
        found += [
            PIISpan(kind="email", start=m.start(), end=m.end()) for m in _EMAIL.finditer(text)
        ]
    if _IBAN_SHAPE.search(text):
        found += [
            PIISpan(kind="iban", start=m.start(), end=m.end())
            for m in _IBAN.finditer(text)
            if iban_valid(m.group())
        ]
    if _CARD_SHAPE.search(text):
        found += [
            PIISpan(kind="card", start=m.start(), end=m.end())
            for m in _CARD.finditer(text)
            if luhn_valid(m.group())
        ]
    if _SSN_SHAPE.search(text):
        found += [PIISpan(kind="ssn", start=m.start(), end=m.end()) for m in _SSN.finditer(text)]
    if _PHONE_SHAPE.search(text):
        found += [
            PIISpan(kind="phone", start=m.start(), end=m.end())
            for m in _PHONE.finditer(text)
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
