"""Number normalisation shared by the answer check and the answer evaluation.

One spelling per quantity, so that "15 000", "15,000" and "15000" compare equal,
"five" compares equal to "5", "129.00" to "129" and "8 percent" to "8%". Both
sides of every comparison go through `normalise`: a fact, a claim, a passage.

Example:
    >>> normalise("Up to 15,000 EUR, five times, 8 per cent, 129.00 EUR")
    'Up to 15000 EUR, 5 times, 8%, 129 EUR'
    >>> holds("Instant transfers go up to 15 000 euros.", "15,000")
    True
    >>> holds("It costs 1.5% of the amount.", "5")
    False
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = ["holds", "normalise", "number_value", "phrase_pattern"]

_UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_WORD_VALUE = {word: n for n, word in enumerate(_UNITS)} | _TENS
_WORD = re.compile(
    r"\b(" + "|".join(_TENS) + r")(?:[- ](" + "|".join(_UNITS[1:10]) + r"))?\b"
    r"|\b(" + "|".join(_UNITS) + r")\b",
    re.IGNORECASE,
)
# A digit group separator (comma, space, no-break spaces, apostrophe) followed by
# exactly three digits, repeated: "15 000", "1,234,567". Not a decimal comma.
_GROUPED = re.compile(r"(?<![\d.,])\d{1,3}(?:[, \u00a0\u202f'](?:\d{3}))+(?!\d|,\d)")
_DECIMAL = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?![\d.])")
_PERCENT = re.compile(r"(\d)\s*(?:%|per\s?cent\b)", re.IGNORECASE)
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def _word_number(match: re.Match[str]) -> str:
    if match.group(3):
        return str(_WORD_VALUE[match.group(3).lower()])
    value = _WORD_VALUE[match.group(1).lower()]
    if match.group(2):
        value += _WORD_VALUE[match.group(2).lower()]
    return str(value)


def _ungroup(match: re.Match[str]) -> str:
    return re.sub(r"\D", "", match.group(0))


def _trim_decimal(match: re.Match[str]) -> str:
    whole, frac = match.group(1), match.group(2).rstrip("0")
    return f"{whole}.{frac}" if frac else whole


def normalise(text: str) -> str:
    """``text`` with numbers in one canonical spelling (and curly quotes straightened).

    Number words up to ninety-nine become digits, digit groups lose their
    separators, decimals lose trailing zeros, and "percent"/"per cent"/" %"
    after a number become "%". Everything else is kept as it is.
    """
    text = text.translate(_QUOTES)
    text = _WORD.sub(_word_number, text)
    text = _GROUPED.sub(_ungroup, text)
    text = _DECIMAL.sub(_trim_decimal, text)
    return _PERCENT.sub(r"\1%", text)


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A case-insensitive pattern for ``phrase`` (normalised) at word boundaries.

    A number is never matched inside a longer number ("5" is not in "1.5",
    "15" is not in "22:15"); runs of spaces match any whitespace.
    """
    words = [re.escape(w) for w in normalise(phrase).split()]
    body = r"\s+".join(words)
    return re.compile(r"(?<!\w)(?<!\d[.,:])" + body + r"(?!\w)(?![.,:]\d)", re.IGNORECASE)


def holds(text: str, phrase: str) -> bool:
    """Whether ``text`` contains ``phrase`` at word boundaries, numbers normalised on both sides.

    An empty phrase is never held (a fact must say something).
    """
    if not phrase.strip():
        return False
    return phrase_pattern(phrase).search(normalise(text)) is not None


def number_value(token: str) -> Decimal | None:
    """The value of a normalised number token ("15000", "1.5"), or None if it is not one."""
    try:
        value = Decimal(token)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None
