"""PII detection on normalised text, with checksums, and redaction of the raw text.

Text is normalised first (`router._normalize`: NFKC, zero-width characters
removed, look-alikes folded), so a card number written in fullwidth digits or
with zero-width characters between them is still found; each span is mapped back
to the raw text, so redaction cuts exactly the characters that hold it.

Kinds and what decides them:

* ``card``: 13-19 digits, optionally grouped by one kind of separator (space,
  ``-``, ``.`` or ``/``), passing the Luhn check.
* ``iban``: a known country code, two check digits and 11-30 letters or digits
  (spaces allowed, either case), passing ISO 13616 mod-97 (and the country length
  where pinned).
* ``ssn``: ``123-45-6789``, ``123 45 6789`` or ``123.45.6789`` with a valid area,
  group and serial; a bare ``123456789`` only with an SSN word within
  `CONTEXT_CHARS` characters ("ssn", "social security", ...).
* ``phone``: a formatted number of at least nine digits; ``+`` and 10-14 digits;
  a bare ten digits (or eleven with a leading 1) only with a phone word nearby
  ("phone", "call", "tel", "mobile", ...).
* ``email``.

`pii_settled` says how much of a growing text (a stream) can no longer change its
spans, reading each pattern's reach from the pattern itself (`_pii_reach`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agentkit._safety_types import PIISpan
from agentkit.safety._pii_reach import Reach, fixed_width, reach
from agentkit.safety._pii_regions import candidate_regions
from router._normalize import normalize_with_offsets

__all__ = [
    "CONTEXT_CHARS",
    "PII_MAX_CHARS",
    "find_pii",
    "iban_valid",
    "luhn_valid",
    "pii_settled",
    "pii_sync_point",
    "redact",
]

CONTEXT_CHARS = 32  # a bare SSN or phone needs its word this close (either side)

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}\b")
# Not inside a longer run of digits (nor one continued through a separator).
_CARD = re.compile(r"(?<!\d)(?<!\d[ ./-])(?:\d[ ./-]?){12,18}\d(?!\d)(?![ ./-]\d)")
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}\b")
_SSN = re.compile(
    r"(?<!\d)(?<!\d[ .-])(?:\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4}|\d{3}\.\d{2}\.\d{4})"
    r"(?!\d)(?![ .-]\d)"
)
_SSN_BARE = re.compile(r"(?<![\d+])(?<!\d[ .-])\d{9}(?!\d)(?![ .-]\d)")
_PHONE = re.compile(
    r"(?<![\w+])(?<!\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])"
    r"\d{3,4}[ .-]?\d{3,4}"
    r"(?![\w-])(?![ .-]?\d)"
)
_PHONE_BARE = re.compile(r"(?<![\d+])(?<!\d[ .-])(?:\+\d{10,14}|1?\d{10})(?!\d)(?![ .-]\d)")
_SSN_WORDS = re.compile(
    r"\b(?:ssn|ss no|social[\s-]*security|soc\.? ?sec|tax ?id|taxpayer|itin|tin)\b|\bss#"
)
_PHONE_WORDS = re.compile(
    r"\b(?:phone|tel|telephone|mobile|cell|cellphone|fax|whatsapp|sms|call|calling|called"
    r"|ring|dial|text me|reach me|contact|ph|mob)\b"
)
# Shapes every match of a pattern contains, written to open with a class so ``re``
# skips to the next candidate in C; a text without the shape skips the pattern
# (whose leading lookbehinds would otherwise be tried at every character).
_CARD_SHAPE = re.compile(r"\d(?:[ ./-]?\d){12}")
_IBAN_SHAPE = re.compile(r"\d\d(?<=[A-Za-z][A-Za-z]\d\d)")
_SSN_SHAPE = re.compile(r"\d\d\d[ .-]?\d\d[ .-]?\d\d\d\d")
_PHONE_SHAPE = re.compile(r"\d\d\d[ .-]?\d\d\d")
_AT = re.compile("@")
# ISO 13616 registry countries; lengths pinned for the common ones (others: 15-34).
_IBAN_COUNTRIES = frozenset(
    re.findall(
        "..",
        "ADAEALATAZBABEBGBHBIBRBYCHCRCYCZDEDJDKDOEEEGESFIFKFOFRGBGEGIGLGRGTHRHUIEILIQISITJOKWKZ"
        "LBLCLILTLULVLYMCMDMEMKMNMRMTMUNINLNOOMPKPLPSPTQARORSRUSASCSDSESISKSMSOSTSVTLTNTRUAVAVG"
        "XKYE",
    )
)
_IBAN_LENGTHS = {
    **dict.fromkeys(("DE", "GB", "IE"), 22),
    **dict.fromkeys(("FR", "IT"), 27),
    **dict.fromkeys(("ES", "SE"), 24),
    **dict.fromkeys(("NL", "DK", "FI"), 18),
    **{"BE": 16, "CH": 21, "AT": 20, "PL": 28, "PT": 25, "NO": 15},
}


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
    """Whether ``iban`` passes the ISO 13616 mod-97 check, for a known country and length."""
    s = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", s) or s[:2] not in _IBAN_COUNTRIES:
        return False
    if _IBAN_LENGTHS.get(s[:2], len(s)) != len(s):
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _ssn_valid(digits: str) -> bool:
    """SSA rules: no area 000, 666 or 9xx, no group 00, no serial 0000."""
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _near(text: str, m: re.Match[str], words: re.Pattern[str]) -> bool:
    """Whether one of ``words`` is within `CONTEXT_CHARS` characters of the match."""
    before = text[max(0, m.start() - CONTEXT_CHARS) : m.start()]
    after = text[m.end() : m.end() + CONTEXT_CHARS]
    return words.search(f"{before} {after}".lower()) is not None


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdecimal())


def _card_ok(text: str, m: re.Match[str]) -> int | None:
    separators = {c for c in m.group() if not c.isdecimal()}
    return m.end() if len(separators) <= 1 and luhn_valid(m.group()) else None


def _iban_ok(text: str, m: re.Match[str]) -> int | None:
    """The end of the longest valid IBAN the match starts with: a greedy match may have
    taken the next word ("DE89 3704 0044 0532 0130 00 thanks")."""
    value = m.group()
    cut = len(value)
    while cut > 0:
        if iban_valid(value[:cut]):
            return m.start() + cut
        cut = value.rfind(" ", 0, cut)
    return None


def _phone_bare_ok(text: str, m: re.Match[str]) -> bool:
    return m.group().startswith("+") or _near(text, m, _PHONE_WORDS)


def _end_if(check: Callable[[str, re.Match[str]], bool]) -> _Check:
    return lambda t, m: m.end() if check(t, m) else None


_Check = Callable[[str, re.Match[str]], "int | None"]


@dataclass(frozen=True)
class _Kind:
    """One pattern: its kind, a shape gate, and the check a match must pass.

    ``check`` returns where the span ends (a match may be cut back), or None.
    """

    kind: str
    pattern: re.Pattern[str]
    shape: re.Pattern[str]
    check: _Check
    begins: str = r"\d"  # what every match starts with (fixed width), for `pii_settled`
    context: int = 0  # characters ``check`` reads past a match
    gate: str = "digits"  # its regions in `candidate_regions`

    @property
    def begins_re(self) -> re.Pattern[str]:
        """`begins` compiled."""
        return _compiled(self.begins)


_KINDS = (
    _Kind("email", _EMAIL, _AT, lambda t, m: m.end(), r"[A-Za-z0-9._%+-]", gate="email"),
    _Kind("iban", _IBAN, _IBAN_SHAPE, _iban_ok, r"[A-Za-z][A-Za-z]\d\d", gate="iban"),
    _Kind("card", _CARD, _CARD_SHAPE, _card_ok),
    _Kind("ssn", _SSN, _SSN_SHAPE, _end_if(lambda t, m: _ssn_valid(_digits(m.group())))),
    _Kind(
        "ssn",
        _SSN_BARE,
        _SSN_SHAPE,
        _end_if(lambda t, m: _ssn_valid(m.group()) and _near(t, m, _SSN_WORDS)),
        context=CONTEXT_CHARS,
    ),
    _Kind(
        "phone",
        _PHONE,
        _PHONE_SHAPE,
        _end_if(lambda t, m: len(_digits(m.group())) >= 9),
        r"[+(\d]",
    ),
    _Kind("phone", _PHONE_BARE, _PHONE_SHAPE, _end_if(_phone_bare_ok), r"[+\d]", CONTEXT_CHARS),
)
_REACH: tuple[Reach, ...] = tuple(reach(k.pattern, k.context) for k in _KINDS)
PII_MAX_CHARS: int = max(r.width + r.ahead for r in _REACH)
"""The longest stretch of normalised text one PII span depends on after its start."""


def _break_class() -> re.Pattern[str] | None:
    """ASCII characters no pattern can consume and normalisation leaves as they are.

    No match crosses one. Only ASCII qualifies: a zero-width character vanishes, a
    fullwidth digit becomes a digit and a Cyrillic letter a Latin one.
    """
    if any(r.alphabet is None for r in _REACH):
        return None
    inside = re.compile("[" + "".join(r.alphabet or "" for r in _REACH) + "]")
    chars = [chr(c) for c in range(128)]
    kept = [c for c in chars if not inside.match(c) and normalize_with_offsets(c).text == c]
    return re.compile("[" + re.escape("".join(kept)) + "]")


_BREAK = _break_class()


def find_pii(text: str, start: int = 0) -> tuple[PIISpan, ...]:
    """PII spans in ``text`` (raw offsets), sorted and non-overlapping.

    The text is normalised before matching; each span covers the raw characters
    its normalised match came from (zero-width characters inside it included).
    Earlier, then longer, spans win overlaps.

    Args:
        text: The raw text.
        start: Where the scan begins: spans starting before it are not returned
            (the text before it is still read for context); see `pii_sync_point`
            for offsets where that equals a whole scan.
    """
    if not isinstance(text, str) or start >= len(text):
        return ()
    begin = _context_begin(text, start)
    norm = normalize_with_offsets(text[begin:], limit=None)
    out = []
    for kind, a, b in _scan(norm.text, norm.position(start - begin)):
        ra, rb = norm.raw_span(a, b)
        out.append(PIISpan(kind=kind, start=begin + ra, end=begin + rb))
    return tuple(out)


def _context_begin(text: str, start: int) -> int:
    """A raw offset before ``start`` whose normalised text up to ``start`` is long
    enough for the lookbehinds and context words of a scan from ``start``."""
    take = 2 * CONTEXT_CHARS + 16
    while start - take > 0:
        if len(normalize_with_offsets(text[start - take : start]).text) >= CONTEXT_CHARS + 8:
            return start - take
        take *= 4  # zero-width padding: look further back
    return 0


def _scan(text: str, start: int) -> list[tuple[str, int, int]]:
    """Spans ``(kind, start, end)`` of normalised ``text`` that start at ``start`` or later.

    On a long text each kind is searched only where `candidate_regions` says one of
    its matches may start: the regex shape gates alone cost 30-70 ms a megabyte.
    """
    regions = candidate_regions(text, start) if len(text) - start > _LONG_CHARS else None
    found: list[tuple[str, int, int]] = []
    for k, r in zip(_KINDS, _REACH, strict=True):
        if regions is not None:
            found += _matches(k, text, regions[k.gate], r.width + r.ahead)
        elif k.shape.search(text, start):
            found += _matches(k, text, [(start, len(text))])
    return _non_overlapping(found)


def _matches(
    k: _Kind, text: str, regions: list[tuple[int, int]], reach: int = PII_MAX_CHARS
) -> list[tuple[str, int, int]]:
    """Every accepted match of one kind that starts inside one of ``regions`` (sorted).

    ``reach``: how far past its start a match and its lookaheads read (the search
    of a region stops there).

    After a rejected match the search resumes at its next character, and after an
    accepted one at its (possibly cut back) end: a greedy match may have swallowed
    the start of the next value.
    """
    out = []
    pos = 0
    for first, last in regions:
        pos = max(pos, first)
        endpos = last + reach + 1  # a match starting by ``last`` is read by then
        while (m := k.pattern.search(text, pos, endpos)) is not None and m.start() <= last:
            end = k.check(text, m)
            if end is None:
                pos = m.start() + 1
            else:
                out.append((k.kind, m.start(), end))
                pos = max(end, m.start() + 1)
    return out


_LONG_CHARS = 4096  # shorter texts: the regex shape gates are cheaper than NumPy


def _non_overlapping(spans: Iterable[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    for span in sorted(spans, key=lambda s: (s[1], s[1] - s[2])):
        if not out or span[1] >= out[-1][2]:
            out.append(span)
    return out


def pii_sync_point(text: str, start: int, end: int) -> int:
    """The last offset in ``[start, end]`` just after a character no PII match can hold.

    ``find_pii(text, q)`` for such a ``q`` finds exactly the spans of
    ``find_pii(text)`` that start at ``q`` or later: no match (valid or not)
    crosses ``q``, and the scan from ``q`` reads the context before it. Returns
    ``start`` when ``[start, end]`` has none (``start`` must be one, e.g. 0).
    """
    if _BREAK is None or end <= start:
        return start
    hit = _BREAK.search(text[start:end][::-1])
    return start if hit is None else end - hit.start()


def pii_settled(text: str) -> int:
    """An offset of ``text`` before which its PII spans are final.

    Text appended to ``text`` cannot change a span of `find_pii` that starts
    before this offset, nor add one there. On the normalised text, a match attempt
    at ``s`` consumes only characters its pattern can consume, at most its longest
    match, and it (or its check) reads ``ahead`` characters past where it stops:
    it is final once those reads fall inside the text. Appending changes the
    normalised text only in its last character sequence, which is unsettled.
    So the unsettled part is at most `PII_MAX_CHARS` normalised characters, and
    usually much less: it starts after the last character that no pattern could
    consume (a space for an e-mail address, a lower-case letter for a card).
    """
    take = 2 * PII_MAX_CHARS
    while True:
        begin = max(0, len(text) - take)
        norm = normalize_with_offsets(text[begin:], limit=None)
        if begin == 0 or len(norm.text) >= PII_MAX_CHARS + 8:
            break
        take *= 4  # zero-width padding: read further back
    return begin + norm.raw_offset(_settled(norm.text))


def _settled(text: str) -> int:
    """`pii_settled` on normalised text: the first place a match may still change."""
    settled = len(text)
    for k, r in zip(_KINDS, _REACH, strict=True):
        last = max(0, len(text) - r.ahead + 1)  # reads of an attempt must stop before len(text)
        lowest = max(0, last - r.width)
        start = lowest
        if r.outside is not None:
            # The last character in text[lowest:last] no match can consume ends the run.
            hit = r.outside.search(text[lowest:last][::-1])
            start = last - hit.start() if hit is not None else lowest
        # From there, a match can only begin where its opening shape does, or where the
        # text ends too soon to tell.
        begin = k.begins_re.search(text, start)
        undecided = max(start, len(text) - fixed_width(k.begins) + 1)
        settled = min(settled, begin.start() if begin else len(text), undecided)
    return settled


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


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
