"""The claims of an answer a cheap lexical check can verify, and whether sources support them.

Three kinds, the ones a small model gets wrong most often and a user acts on:

- ``number``: a number with its unit, if any ("500 EUR", "10 business days",
  "1.5%", "22:00"). Supported when a source has the same number (normalised:
  "15,000" = "15 000"; `agentkit._numbers`) followed by the same unit within a
  few words, or the bare number when the answer gives no unit. A currency is
  looser where the source gives the number bare: a ledger's JSON has
  ``"balance": "1250.40"`` with no unit beside it, and the currency is named
  elsewhere (a number that a source gives with another unit, "10 business
  days", does not support "10 EUR").
- ``name``: a product, menu or proper name: a run of capitalised words that does
  not start a sentence ("Premium", "Example Bank"), an all-caps term ("SWIFT",
  "IBAN") or a menu path ("Settings > Security"). Supported when a source
  holds it, case-insensitive, at word boundaries.
- ``negation``: the polarity of a sentence that restates a source sentence (most
  of its content words are in one): "Merchant fees are refundable" against
  "Merchant fees are not refundable" is unsupported, and so is a negation the
  source does not have. A sentence that restates no source sentence makes no
  polarity claim (a polite "I can't look that up" is not checked).

Example:
    >>> sources = ["The daily ATM withdrawal limit is 500 EUR."]
    >>> [(c.text, c.supported) for c in check_claims("The ATM limit is 500 euros a day.", sources)]
    [('ATM', True), ('500 euros', True)]
    >>> [(c.text, c.supported) for c in check_claims("It is 5,000 EUR.", sources)]
    [('5000 EUR', False)]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agentkit._numbers import normalise

__all__ = ["ClaimKind", "FoundClaim", "check_claims", "find_claims", "mentions_any"]

ClaimKind = Literal["number", "name", "negation"]

_UNIT_WORDS = {
    "eur": "eur",
    "euro": "eur",
    "euros": "eur",
    "€": "eur",
    "usd": "usd",
    "dollar": "usd",
    "dollars": "usd",
    "$": "usd",
    "%": "%",
    "day": "day",
    "days": "day",
    "week": "week",
    "weeks": "week",
    "month": "month",
    "months": "month",
    "year": "year",
    "years": "year",
    "hour": "hour",
    "hours": "hour",
    "minute": "minute",
    "minutes": "minute",
    "second": "second",
    "seconds": "second",
}
_UNIT_NAMES = frozenset({"EUR", "USD"})
_CURRENCIES = frozenset({"eur", "usd"})  # units, checked with their numbers
_UNIT = r"(?:%|€|\$|(?:business |working |calendar )?[a-z]+)"
_NUMBER = re.compile(
    r"(?<![\w.,:])(€|\$)?\s?(\d+(?:[.:]\d+)?)(?![\w]|[.,:]\d|-[a-z])(?:\s?(" + _UNIT + r"))?",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
_CAPITAL_RUN = re.compile(r"\b[A-Z][\w'-]*(?:\s+(?:of\s+)?[A-Z][\w'-]*)*")
_ALL_CAPS = re.compile(r"\b[A-Z]{2,}\b")
_MENU = re.compile(r"\b[A-Z]\w*(?:\s*>\s*[A-Z]\w*)+")
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nothing|cannot|can't|don't|doesn't|isn't|aren't|won't|wasn't"
    r"|shouldn't|mustn't|without)\b|\bnon-",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z0-9]+")
_FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "you",
        "your",
        "we",
        "our",
        "i",
        "my",
        "me",
        "they",
        "their",
        "he",
        "she",
        "can",
        "could",
        "will",
        "would",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "any",
        "all",
        "each",
        "every",
        "not",
        "no",
        "never",
        "cannot",
        "t",
        "don",
        "doesn",
        "isn",
        "aren",
        "won",
        "non",
    ]
)
_MIN_RESTATED = 0.6  # share of a sentence's content words found in one source sentence
_UNIT_WINDOW = 24  # characters after a number in which a source may give its unit


@dataclass(frozen=True)
class FoundClaim:
    """One claim of an answer, and whether the sources support it."""

    kind: ClaimKind
    text: str
    supported: bool


def _unit(raw: str | None) -> str | None:
    if not raw:
        return None
    word = raw.lower().split()[-1]
    return _UNIT_WORDS.get(word)


def _numbers(text: str) -> list[tuple[str, str, str | None]]:
    """(claim text, number, canonical unit) for each number in normalised ``text``."""
    out = []
    for m in _NUMBER.finditer(text):
        unit = _unit(m.group(3)) or _unit(m.group(1))
        shown = m.group(0).strip() if unit else m.group(2)
        out.append((shown if m.group(1) or unit else m.group(2), m.group(2), unit))
    return out


def _currency_named(unit: str, sources: Sequence[str]) -> bool:
    names = [w for w, u in _UNIT_WORDS.items() if u == unit]
    return any(_contains(sources, name) or name in s for s in sources for name in names)


def _units_near(source: str, m: re.Match[str]) -> list[str | None]:
    """The units a source gives next to the number matched by ``m`` (before or after)."""
    before = source[max(0, m.start() - 2) : m.start()]
    after = source[m.end() : m.end() + _UNIT_WINDOW].lower()
    words = re.findall(r"%|€|\$|[a-z]+", after)
    return [_UNIT_WORDS.get(w) for w in words[:3]] + [_unit(before.strip())]


def _number_supported(number: str, unit: str | None, sources: Sequence[str]) -> bool:
    pattern = re.compile(r"(?<![\w.,:])" + re.escape(number) + r"(?![\w]|[.,:]\d)")
    bare_ok = unit in _CURRENCIES and _currency_named(unit or "", sources)
    for source in sources:
        for m in pattern.finditer(source):
            units = [u for u in _units_near(source, m) if u is not None]
            if unit is None or unit in units or (bare_ok and not units):
                return True
    return False


def _names(text: str) -> list[str]:
    """Capitalised runs not starting a sentence, all-caps terms, menu paths."""
    found: list[str] = [m.group(0) for m in _MENU.finditer(text)]
    for sentence in _SENTENCE.split(text):
        for m in _CAPITAL_RUN.finditer(sentence):
            run = m.group(0)
            if m.start() == len(sentence) - len(sentence.lstrip(" \"'(")):
                run = run.partition(" ")[2]  # a sentence's first word: capitalised by grammar
            known = any(run in f for f in found)
            if run and run != "I" and run.upper() not in _UNIT_NAMES and not known:
                found.append(run)
    caps = [w for w in _ALL_CAPS.findall(text) if w not in _UNIT_NAMES]
    return found + [w for w in caps if not any(w in f for f in found)]


def _contains(sources: Sequence[str], phrase: str) -> bool:
    words = r"\s+".join(re.escape(w) for w in phrase.split())
    pattern = re.compile(r"(?<!\w)" + words + r"(?!\w)", re.IGNORECASE)
    return any(pattern.search(s) for s in sources)


def _content(sentence: str) -> set[str]:
    return {w for w in _WORD.findall(sentence.lower()) if w not in _FUNCTION_WORDS}


def _polarity_claims(text: str, sources: Sequence[str]) -> list[FoundClaim]:
    """A claim for each answer sentence that restates a source sentence."""
    source_sentences = [s for src in sources for s in _SENTENCE.split(src) if s.strip()]
    claims = []
    for sentence in _SENTENCE.split(text):
        words = _content(sentence)
        if len(words) < 2:
            continue
        best, best_share = "", 0.0
        for candidate in source_sentences:
            share = len(words & _content(candidate)) / len(words)
            if share > best_share:
                best, best_share = candidate, share
        if best_share < _MIN_RESTATED:
            continue
        negated = _NEGATION.search(sentence) is not None
        if negated or _NEGATION.search(best):
            same = negated == (_NEGATION.search(best) is not None)
            claims.append(FoundClaim("negation", sentence.strip(), same))
    return claims


def find_claims(text: str) -> list[tuple[ClaimKind, str]]:
    """The number and name claims of ``text`` (negations need the sources: `check_claims`)."""
    norm = normalise(text)
    out: list[tuple[ClaimKind, str]] = [("name", n) for n in _names(norm)]
    out += [("number", shown) for shown, _, _ in _numbers(norm)]
    return out


def mentions_any(text: str, sources: Sequence[str]) -> bool:
    """Whether ``text`` states a number (whatever its unit) or a name that ``sources`` hold."""
    norm = normalise(text)
    norm_sources = [normalise(s) for s in sources if s]
    if any(_number_supported(number, None, norm_sources) for _, number, _ in _numbers(norm)):
        return True
    return any(_contains(norm_sources, name) for name in _names(norm))


def check_claims(text: str, sources: Sequence[str]) -> list[FoundClaim]:
    """Every claim of ``text``, each marked supported or not by ``sources``.

    Args:
        text: The answer.
        sources: Grounding passages, tool results, the conversation's messages.

    Returns:
        Names first, then numbers, then sentence polarities, in text order.
    """
    norm = normalise(text)
    norm_sources = [normalise(s) for s in sources if s]
    claims = [FoundClaim("name", n, _contains(norm_sources, n)) for n in _names(norm)]
    claims += [
        FoundClaim("number", shown, _number_supported(number, unit, norm_sources))
        for shown, number, unit in _numbers(norm)
    ]
    return claims + _polarity_claims(norm, norm_sources)
