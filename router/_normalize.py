"""Text normalisation shared by the router and the safety filter.

Filters are dodged with zero-width characters, fullwidth forms and Cyrillic or
Greek letters that look Latin; every scorer sees text with those folded away.
Work is capped so that a megabyte of input costs the same as a few kilobytes.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["HEAD_CHARS", "TAIL_CHARS", "cap_text", "fold_homoglyphs", "normalize_text"]

HEAD_CHARS = 4096  # scoring reads the head of a long text, where the request usually is
TAIL_CHARS = 1024  # ...and its tail, where a question after a long paste usually is

_ZERO_WIDTH = dict.fromkeys(
    map(
        ord,
        "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
        "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u206a\u206b\u206c"
        "\u206d\u206e\u206f\u3164\ufeff\uffa0",
    ),
    None,
)

# Confusables that look like Latin letters (Unicode TR39, the Latin-lookalike subset).
_CONFUSABLES = str.maketrans(
    "АВЕКМНОРСТУХЅІЈаеорсуххіјѕԁһӏԛԝΑΒΕΖΗΙΚΜΝΟΡΤΥΧαβεικνορτυχɡɑℓı",
    "ABEKMHOPCTYXSIJaeopcyxxijsdhlqwABEZHIKMNOPTYXabeiknoptuxgali",
)


# Character classes of the same sets: most non-ASCII text holds none of these, and a
# class search skips it in C where ``translate`` looks every character up in a dict.
_ZERO_WIDTH_RE = re.compile("[" + "".join(map(chr, _ZERO_WIDTH)) + "]")
_CONFUSABLE_RE = re.compile("[" + "".join(map(chr, _CONFUSABLES)) + "]")

# The last (input, output) of `normalize_text`; strings are immutable, so identity
# of the input means the same output. One slot bounds the memory held.
_last: tuple[str | None, str] = (None, "")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def cap_text(text: str) -> str:
    """Keep the head and tail of a long text so scoring work stays bounded."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS + 1:  # +1: capping a capped text is a no-op
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def fold_homoglyphs(text: str) -> str:
    """Map Cyrillic/Greek letters that look Latin to the Latin letter."""
    return text.translate(_CONFUSABLES)


def normalize_text(text: object) -> str:
    """NFKC, zero-width stripping, homoglyph folding and control-character removal.

    Never raises: bytes are decoded leniently and any other object becomes ``""``.

    Args:
        text: The raw text (``str``; ``bytes`` are decoded as UTF-8 with replacement).

    Returns:
        The normalised, capped text.
    """
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return ""
    global _last
    last = _last  # one read: safe across threads
    if last[0] is text:  # the safety filter, then the router, normalise the same message
        return last[1]
    out = _normalize(text)
    _last = (text, out)
    return out


def _normalize(text: str) -> str:
    text = cap_text(text)
    if not text.isascii():  # ASCII is already NFKC, with no zero-width or lookalike letters
        text = unicodedata.normalize("NFKC", text)
        if _ZERO_WIDTH_RE.search(text):
            text = text.translate(_ZERO_WIDTH)
        if _CONFUSABLE_RE.search(text):
            text = fold_homoglyphs(text)
    return _CONTROL.sub(" ", text)
