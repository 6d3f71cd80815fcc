"""Text normalisation shared by the router and the safety filter.

Filters are dodged with zero-width characters, fullwidth forms and Cyrillic or
Greek letters that look Latin; every scorer sees text with those folded away:
NFKC, then zero-width and bidi controls removed, then look-alikes folded, then
control characters (and lone surrogates) turned into spaces.

The whole text is normalised, up to `MAX_SCAN_CHARS` characters (the safety
policy flags longer texts as ``oversize``); scorers that want a bounded view cut
it themselves (`cap_text`). `normalize_with_offsets` returns the same string with
a map back to the raw text, so that a span found on the normalised text (a card
number written with zero-width characters between its digits) cuts the right raw
characters. Both are linear in the length: character tables and ``str.translate``
do the work, and only combining sequences (a base letter and its accents, which
NFKC may compose into one character) are handled one by one.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass

import numpy as np

__all__ = [
    "HEAD_CHARS",
    "MAX_SCAN_CHARS",
    "TAIL_CHARS",
    "Normalized",
    "cap_text",
    "fold_homoglyphs",
    "normalize_text",
    "normalize_with_offsets",
]

MAX_SCAN_CHARS = 1 << 20  # 1 Mi characters: longer texts are cut here (and flagged by policy)
HEAD_CHARS = 4096  # `cap_text`: the head of a long text, where the request usually is
TAIL_CHARS = 1024  # ...and its tail, where a question after a long paste usually is

_ZERO_WIDTH_CHARS = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u206a\u206b\u206c"
    "\u206d\u206e\u206f\u3164\ufeff\uffa0"
)
_ZERO_WIDTH = dict.fromkeys(map(ord, _ZERO_WIDTH_CHARS), None)

# Confusables that look like Latin letters (Unicode TR39, the Latin-lookalike subset).
_CONFUSABLES = str.maketrans(
    "АВЕКМНОРСТУХЅІЈаеорсуххіјѕԁһӏԛԝΑΒΕΖΗΙΚΜΝΟΡΤΥΧαβεικνορτυχɡɑℓı",
    "ABEKMHOPCTYXSIJaeopcyxxijsdhlqwABEZHIKMNOPTYXabeiknoptuxgali",
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

# Starters (combining class 0) that NFC composes with the character before them
# (NFC_Quick_Check=Maybe: Hangul vowels and trailing consonants, Indic vowel signs),
# read from unicodedata 14.0; `tests/router/test_normalize.py` recomputes the list.
_COMPOSING_STARTERS = (
    "\u09be\u09d7\u0b3e\u0b56\u0b57\u0bbe\u0bd7\u0cc2\u0cd5\u0cd6\u0d3e\u0d57\u0dcf\u0ddf"
    "\u0fb5\u0fb7\u102e\u1b35\U00011127\U0001133e\U00011357\U000114b0\U000114ba\U000114bd"
    "\U000115af\U00011930"
    + "".join(map(chr, range(0x1161, 0x1176)))
    + "".join(map(chr, range(0x11A8, 0x11C3)))
)

# Per code point, filled as characters are first seen: flags, NFKC length, and (for
# characters NFKC maps to one character) that character. `_FOLD` maps look-alikes to
# Latin and control characters and surrogates to a space. Allocated on first use.
_KNOWN, _CHANGED, _JOINS = 1, 2, 4  # seen; NFKC changes it; joins the character before it
_N_CODE_POINTS = 0x110000
_table_lock = threading.Lock()


class _Tables:
    """Code point tables (about 11 MB), built once, on the first non-ASCII text."""

    def __init__(self) -> None:
        cps = np.arange(_N_CODE_POINTS, dtype=np.uint32)
        self.flags = np.zeros(_N_CODE_POINTS, dtype=np.uint8)
        self.length = np.ones(_N_CODE_POINTS, dtype=np.uint8)  # NFKC gives at most 18
        self.single = cps.copy()  # NFKC of a character that maps to one character
        self.multi: dict[int, np.ndarray] = {}  # ... and of one that maps to several
        self.zero_width = np.zeros(_N_CODE_POINTS, dtype=bool)
        self.zero_width[[ord(c) for c in _ZERO_WIDTH_CHARS]] = True
        self.fold = cps
        self.fold[np.r_[0:9, 11:13, 14:32, 0x7F:0xA0, 0xD800:0xE000]] = ord(" ")
        src, dst = zip(*_CONFUSABLES.items(), strict=True)
        self.fold[list(src)] = list(dst)

    def classify(self, cps: np.ndarray) -> np.ndarray:
        """The flags of every code point in ``cps``, classifying new ones first."""
        flags = self.flags[cps]
        new = np.unique(cps[(flags & _KNOWN) == 0])
        if new.size:
            with _table_lock:
                for cp in new.tolist():
                    self._remember(cp)
            flags = self.flags[cps]
        return np.asarray(flags)

    def _remember(self, cp: int) -> None:
        char = chr(cp)
        nfkc = unicodedata.normalize("NFKC", char)
        flag = _KNOWN
        if nfkc != char:
            flag |= _CHANGED
            self.length[cp] = len(nfkc)
            if len(nfkc) == 1:
                self.single[cp] = ord(nfkc)
            else:
                self.multi[cp] = _code_points(nfkc)
        if _joins(char) or (nfkc != char and _joins(nfkc[0])):
            flag |= _JOINS
        self.flags[cp] = flag


_tables: list[_Tables] = []


def _get_tables() -> _Tables:
    if not _tables:
        with _table_lock:
            if not _tables:
                _tables.append(_Tables())
    return _tables[0]


# The last (input, output) of `normalize_text`; strings are immutable, so identity
# of the input means the same output. One slot bounds the memory held.
_last: tuple[str | None, str] = (None, "")


@dataclass(frozen=True)
class Normalized:
    """A normalised text and where each of its characters came from in the raw text.

    Attributes:
        text: The normalised text (as `normalize_text` returns it).
        raw_len: Length of the raw text that was read (after the ``limit`` cut).
        starts: Raw offset where the source of each character of ``text`` begins
            (non-decreasing, ``(len(text),)`` int64); None: the identity map.
        ends: Raw offset where that source ends (a combining sequence is one source).
    """

    text: str
    raw_len: int
    starts: np.ndarray | None = None
    ends: np.ndarray | None = None

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """The raw ``[start, end)`` whose normalisation holds ``text[start:end]`` (end > start)."""
        if self.starts is None or self.ends is None:
            return start, end
        return int(self.starts[start]), int(self.ends[end - 1])

    def raw_offset(self, position: int) -> int:
        """The raw offset where normalised ``position`` begins (``raw_len`` at the end)."""
        if position >= len(self.text):
            return self.raw_len
        return position if self.starts is None else int(self.starts[position])

    def position(self, raw_offset: int) -> int:
        """The first normalised position whose source starts at ``raw_offset`` or later."""
        if self.starts is None:
            return min(raw_offset, len(self.text))
        return int(np.searchsorted(self.starts, raw_offset, side="left"))


def cap_text(text: str) -> str:
    """Keep the head and tail of a long text so scoring work stays bounded."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS + 1:  # +1: capping a capped text is a no-op
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def fold_homoglyphs(text: str) -> str:
    """Map Cyrillic/Greek letters that look Latin to the Latin letter."""
    return text.translate(_CONFUSABLES)


def _as_str(text: object) -> str:
    if isinstance(text, bytes | bytearray):
        return bytes(text).decode("utf-8", errors="replace")
    return text if isinstance(text, str) else ""


def normalize_text(text: object) -> str:
    """NFKC, zero-width stripping, homoglyph folding and control-character removal.

    Never raises: bytes are decoded leniently and any other object becomes ``""``.
    The first `MAX_SCAN_CHARS` characters are read, and at most that many returned.

    Args:
        text: The raw text (``str``; ``bytes`` are decoded as UTF-8 with replacement).

    Returns:
        The normalised text.
    """
    if not isinstance(text, str):
        text = _as_str(text)
    global _last
    last = _last  # one read: safe across threads
    if last[0] is text:  # the safety filter, then the router, normalise the same message
        return last[1]
    out = normalize_with_offsets(text).text
    _last = (text, out)
    return out


def normalize_with_offsets(text: object, limit: int | None = MAX_SCAN_CHARS) -> Normalized:
    """`normalize_text`, with each output character's source in the raw text.

    Args:
        text: The raw text (as for `normalize_text`).
        limit: Raw characters read (None: all; the output is cut to the same length).

    Returns:
        ``Normalized(text=...)`` where ``text`` equals ``normalize_text(text)`` (for the
        default limit) and ``raw_span`` maps a span of it back to the raw text.
    """
    raw = _as_str(text)
    if limit is not None:
        raw = raw[:limit]
    if raw.isascii():  # ASCII is NFKC already; only control characters change, one for one
        return Normalized(_CONTROL.sub(" ", raw), len(raw))
    tables = _get_tables()
    cps = _code_points(raw)
    flags = tables.classify(cps)
    starts: np.ndarray | None = None
    ends: np.ndarray | None = None
    if (flags & (_CHANGED | _JOINS)).any():
        cps, starts, ends = _nfkc(raw, cps, flags, tables)
    gone = tables.zero_width[cps]
    if gone.any():
        keep = ~gone
        if starts is None or ends is None:
            starts = np.arange(cps.size, dtype=np.int64)
            ends = starts + 1
        cps, starts, ends = cps[keep], starts[keep], ends[keep]
    cps = tables.fold[cps]  # look-alikes to Latin, controls and surrogates to a space
    if limit is not None and cps.size > limit:  # NFKC expanded the text
        cps = cps[:limit]
        if starts is not None and ends is not None:
            starts, ends = starts[:limit], ends[:limit]
    return Normalized(cps.tobytes().decode("utf-32-le"), len(raw), starts, ends)


def _code_points(text: str) -> np.ndarray:
    return np.asarray(np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32))


def _joins(char: str) -> bool:
    """Whether NFKC may merge ``char`` with the character before it."""
    return unicodedata.combining(char) != 0 or char in _COMPOSING_STARTERS


def _nfkc(
    raw: str, cps: np.ndarray, flags: np.ndarray, tables: _Tables
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NFKC code points of ``raw`` and, per output character, the raw ``[start, end)``.

    Each character is replaced by its own NFKC (table look-ups), except a base
    character with the marks that follow it: NFKC may compose or reorder those, so
    each such unit is normalised whole and all its output characters map to the unit.
    """
    n = cps.size
    lengths = tables.length[cps].astype(np.int64)  # (n,) output characters per raw one
    unit_end = np.arange(1, n + 1, dtype=np.int64)
    plain = (flags & _CHANGED) != 0  # characters replaced by their own NFKC
    units = None
    joins = (flags & _JOINS) != 0
    if joins.any():
        units = _units(cps, joins)
        firsts, lasts, member, _, sizes = units
        lengths[member] = 0
        lengths[firsts] = sizes
        unit_end[firsts] = lasts
        plain &= ~member
    offsets = np.cumsum(lengths) - lengths  # (n,) where each raw character's output starts
    out = np.empty(int(lengths.sum()), dtype=np.uint32)
    single = lengths == 1
    if units is not None:
        single &= ~units[2]
    out[offsets[single]] = tables.single[cps[single]]
    multi = np.flatnonzero(plain & (lengths > 1))
    for cp in np.unique(cps[multi]).tolist():  # one pass per distinct expanding character
        at = offsets[multi[cps[multi] == cp]]
        for k, value in enumerate(tables.multi[cp].tolist()):
            out[at + k] = value
    if units is not None:
        firsts, _, _, flat, sizes = units
        dest = np.repeat(offsets[firsts] - (np.cumsum(sizes) - sizes), sizes)
        out[dest + np.arange(flat.size)] = flat
    starts = np.repeat(np.arange(n, dtype=np.int64), lengths)
    return out, starts, np.repeat(unit_end, lengths)


def _units(
    cps: np.ndarray, joins: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The combining sequences (a character and the joining ones after it), normalised.

    All units go through one NFKC call, joined by newlines (nothing composes with a
    newline; a unit that holds one is normalised on its own).

    Returns:
        ``firsts``, ``lasts`` (raw bounds of each unit), ``member`` (raw characters in
        a unit), the units' NFKC code points concatenated, and each unit's NFKC length.
    """
    unit = np.cumsum(~joins)  # a joining character belongs to the unit before it
    ids = unit[joins]  # non-decreasing: unique by comparing neighbours
    ids = ids[np.r_[True, ids[1:] != ids[:-1]]]
    firsts = np.searchsorted(unit, ids, side="left")
    lasts = np.searchsorted(unit, ids, side="right")
    inside = np.zeros(cps.size + 1, dtype=np.int64)
    inside[firsts] = 1  # units are disjoint: each first and each last occurs once
    inside[lasts] -= 1
    member = np.cumsum(inside[:-1]) > 0
    body = cps[member]
    bounds = np.cumsum(lasts - firsts)
    joined = np.insert(body, bounds[:-1], ord("\n")).tobytes().decode("utf-32-le", "surrogatepass")
    merged = unicodedata.normalize("NFKC", joined).split("\n")
    if len(merged) != ids.size:
        parts = np.split(body, bounds[:-1])
        merged = [
            unicodedata.normalize("NFKC", p.tobytes().decode("utf-32-le", "surrogatepass"))
            for p in parts
        ]
    sizes = np.fromiter(map(len, merged), dtype=np.int64, count=len(merged))
    return firsts, lasts, member, _code_points("".join(merged)), sizes
