"""Layer 1: structural features of a request, computed in microseconds.

They describe *properties* that carry over between sources (arithmetic intent,
chains of premises, requests for depth, code shape) rather than vocabulary, so
the trained layer leans on them where the wording of a new source differs.
Keyword families are looked up per word, word pair and word triple in one pass
over the tokens, which is several times cheaper than one regex per family.
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["FEATURE_NAMES", "structural_features", "tokenize"]

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)*|[^\sa-z\d]")
# An operator between numbers (``3 * 4``, ``2x = 6``, ``^2``). The alternatives are
# ``\d\s*[op]\s*\(?[\d.(]``, ``\d\s*[*/^=]\s*[a-z]``, ``=\s*-?\d`` and ``\^\d``, written to open
# with one class so that ``re`` skips to the next digit, ``=`` or ``^`` in C.
_OPERATOR = re.compile(
    r"[\d=^](?:(?<=\d)(?:\s*[-+*/×÷^=<>]\s*\(?[\d.(]|\s*[*/^=]\s*[a-z])|(?<==)\s*-?\d|(?<=\^)\d)"
)
_ENUM_LINE = re.compile(r"(?m)^\s*(?:\d+[.)]|[-*•]|[a-z][.)]|premise\s*\d*:?)\s+")
_CODE = re.compile(r"```|>>>|=>|;[ \t]*$|\{[ \t]*$|_[a-z0-9]+\(|[a-z][A-Z][A-Za-z0-9]*\(", re.M)
_CODE_CHARS = frozenset("(;{`>")

_FAMILY_TOKENS = 600  # keyword families read the first 600 tokens: a request states itself early
_FAMILIES: dict[str, str] = {
    "word_numbers": "two three four five six seven eight nine ten eleven twelve twenty thirty "
    "forty fifty hundred thousand million dozen twice thrice half double triple quarter",
    "currency": "$ € £ ¥ dollar dollars cent cents euro euros bucks rupees",
    "percent": "% percent percentage|per cent",
    "units": "mile miles km kilometers meter meters metres feet foot inch inches yard yards cm "
    "mm kg gram grams ounce ounces lb lbs liter liters litres gallon gallons cup cups hour hours "
    "minute minutes second seconds day days week weeks month months year years mph degrees acres "
    "square cubic per each apiece|times as|as many|as much",
    "equation": "solve equation unknown variable|x =|y =|value of x|value of",
    "amount_question": "calculate compute altogether total|how many|how much|how long|how far|"
    "how old|how fast|how often|what percent|what fraction|in total|left over|find the|"
    "what is the|what was the",
    "math_vocab": "sum product average mean median remainder divisible divided multiplied "
    "multiply prime integer integers fraction fractions ratio probability area perimeter "
    "volume radius diameter derivative integral digit digits factorial polynomial modulo sqrt "
    "squared cubed rate profit discount interest divisor divisors gcd lcm multiples celsius "
    "fahrenheit exponent exponents logarithm hypotenuse circumference quadratic"
    "|common divisor|common multiple|how many ways",
    "conditionals": "if then unless implies whenever otherwise|only if|provided that",
    "quantifiers": "all every each no none some any nobody everyone everything somebody someone "
    "nothing either neither nor both|exactly one|at least|at most|no one",
    "conclusion": "therefore thus hence conclude conclusion deduce infer entails entail valid "
    "invalid true false uncertain premise premises logically necessarily contradiction "
    "contradicts implication syllogism|it follows|must be|statements above|what follows|"
    "does it follow|can we tell",
    "puzzle": "knight knights knave knaves liar liars truthful suppose assume puzzle riddle clue "
    "seated taller shorter older younger ahead behind|who is|which of|left of|right of|next to|"
    "came last|came first|finished last|finished first|who won|who owns|what order|"
    "which order|rank the|exactly one of|each person",
    "code": "def return import class function self const var lambda elif println printf "
    "int str bool void args kwargs",
    "depth": "prove proof derive rigorous rigorously|step by step|show your|think carefully|"
    "reason through|think hard|deep dive|thorough analysis",
}
_WORD_FAMILIES: dict[str, tuple[str, ...]] = {}
for _name, _spec in _FAMILIES.items():
    _words, _, _phrases = _spec.partition("|")
    for _w in _words.split() + [p for p in _phrases.split("|") if p]:
        _WORD_FAMILIES[_w] = (*_WORD_FAMILIES.get(_w, ()), _name)
# Last words of the two- and three-word phrases: only these tokens can close one.
_BIGRAM_ENDS = frozenset(k.rsplit(" ", 1)[1] for k in _WORD_FAMILIES if k.count(" ") == 1)
_TRIGRAM_ENDS = frozenset(k.rsplit(" ", 1)[1] for k in _WORD_FAMILIES if k.count(" ") == 2)

FEATURE_NAMES: tuple[str, ...] = (
    "numbers",
    "word_numbers",
    "currency",
    "percent",
    "units",
    "operators",
    "equation",
    "amount_question",
    "math_vocab",
    "numbers_x_question",
    "conditionals",
    "quantifiers",
    "conclusion",
    "puzzle",
    "premise_density",
    "enumerated",
    "depth",
    "questions",
    "code",
    "code_lines",
    "sentences",
    "log_length",
    "long_context",
)
_SCALES = {
    "numbers": 3.0,
    "word_numbers": 2.0,
    "currency": 1.0,
    "percent": 1.0,
    "units": 2.0,
    "operators": 1.0,
    "equation": 1.0,
    "amount_question": 1.0,
    "math_vocab": 1.5,
    "numbers_x_question": 3.0,
    "conditionals": 2.0,
    "quantifiers": 3.0,
    "conclusion": 1.5,
    "puzzle": 2.0,
    "enumerated": 3.0,
    "depth": 1.0,
    "questions": 1.5,
    "code": 2.0,
    "code_lines": 3.0,
    "sentences": 5.0,
}


def tokenize(low: str) -> list[str]:
    """Words, numbers and single punctuation marks of a lower-cased text."""
    return _TOKEN.findall(low)


def _family_counts(tokens: list[str]) -> dict[str, float]:
    counts: dict[str, float] = dict.fromkeys(_FAMILIES, 0.0)
    counts["numbers"] = 0.0
    get = _WORD_FAMILIES.get
    prev2 = prev = ""
    for tok in tokens[:_FAMILY_TOKENS]:
        if tok[0].isdigit():
            counts["numbers"] += 1.0
        for name in get(tok, ()):
            counts[name] += 1.0
        if prev and tok in _BIGRAM_ENDS:
            for name in get(f"{prev} {tok}", ()):
                counts[name] += 1.0
        if prev2 and tok in _TRIGRAM_ENDS:  # "step by step", "how many ways"
            for name in get(f"{prev2} {prev} {tok}", ()):
                counts[name] += 1.0
        prev2, prev = prev, tok
    return counts


def structural_features(
    text: str, tokens: list[str] | None = None, context_chars: int = 0
) -> np.ndarray:
    """Structural feature vector of one normalised text, each value in [0, 1].

    Args:
        text: The normalised message.
        tokens: ``tokenize(text.lower())`` when the caller already has it.
        context_chars: Characters of history and tool results around the message.

    Returns:
        A float32 vector ordered as `FEATURE_NAMES`.
    """
    if tokens is None:
        tokens = tokenize(text.lower())
    c = _family_counts(tokens)
    sentences = max(1.0, float(sum(1 for t in tokens if t in ".!?")))
    c["questions"] = float(text.count("?"))
    c["sentences"] = sentences
    c["operators"] = float(len(_OPERATOR.findall(text))) if c["numbers"] else 0.0
    c["numbers_x_question"] = min(c["numbers"], 6.0) * min(c["amount_question"], 2.0)
    c["enumerated"] = float(len(_ENUM_LINE.findall(text)))
    if not _CODE_CHARS.isdisjoint(text):
        c["code"] += float(len(_CODE.findall(text)))
    c["code_lines"] = float(sum(1 for ln in text.splitlines() if ln.startswith(("    ", "\t"))))
    values = [1.0 - math.exp(-c[name] / scale) for name, scale in _SCALES.items()]
    density = min(1.0, (c["conditionals"] + c["quantifiers"]) / sentences / 2.0)
    out = dict(zip(_SCALES, values, strict=True))
    out["premise_density"] = density
    out["log_length"] = min(1.0, math.log1p(len(text)) / math.log1p(4000))
    out["long_context"] = 1.0 - math.exp(-(len(text) + context_chars) / 8000.0)
    return np.asarray([out[name] for name in FEATURE_NAMES], dtype=np.float32)
