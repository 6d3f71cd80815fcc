"""Moderation and prompt-injection scores: the trained model's heads plus lexicons.

The model file is shared with the router (``router/data/router_model.npz``): its
``unsafe`` head and one head per category were trained on the dev set with the
safe look-alikes as weighted negatives.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass

from agentkit.safety._benign import BENIGN_SENSE, benign_context
from agentkit.safety._injection import INJECTION_PATTERNS
from agentkit.safety._intent import intent_scores, seeks_support
from agentkit.safety._lexicon import CATEGORY_PATTERNS, MINOR, SEXUAL_HINT, TRIGGERS
from agentkit.safety._policy import CATEGORIES
from agentkit.safety._scan import found, index_words, scan, word_leads

# Shared internals of the same distribution: one featurisation serves both steps.
from router._layered import load_model
from router._normalize import cap_text
from router._textcache import cached_features
from router._windows import strongest_window

__all__ = ["ModerationScores", "injection_score", "moderation_scores"]

_WORD = re.compile(r"[a-z]+")
_INJECTION_WINDOW = 1024  # one passage: an instruction is a sentence or two
_ROLE_MARKERS = INJECTION_PATTERNS[2][0]  # not word-led: gated on its literals
_BENIGN_DAMPING = 0.25  # a benign sense ("kill the process") keeps a quarter of a hit
_BENIGN_SHIFT = 0.88  # used as a threshold: shifts a calibrated score by -2 in logit space
_DAMPED = frozenset({"violence", "illicit", "violence/graphic"})
_SEXUAL_STRONG = CATEGORY_PATTERNS["sexual"][0][0]
_MINOR_SPAN = 80  # a long web page naming children and, far away, sex is not about both
_UNDAMPED = frozenset({"self-harm", "sexual/minors"})  # no context makes these benign


@dataclass(frozen=True)
class ModerationScores:
    """Scores of one text.

    Attributes:
        unsafe: Overall score, calibrated so that 0.5 is the fitted threshold.
        categories: Score in [0, 1] per category of `CATEGORIES`.
        model_available: False when the trained model could not be loaded (lexicons only).
        model_unsafe: The model's calibrated ``unsafe`` score alone (0 without a model).
        lexicon: The strongest lexicon or intent-pattern score alone.
    """

    unsafe: float
    categories: dict[str, float]
    model_available: bool
    model_unsafe: float = 0.0
    lexicon: float = 0.0


def _combine(weights: list[float]) -> float:
    """Noisy-OR: independent pieces of evidence."""
    return 1.0 - math.prod(1.0 - w for w in weights)


def _runs(pattern: re.Pattern[str], leads: Collection[str]) -> bool:
    trigger = TRIGGERS.get(pattern)
    return trigger is None or not trigger.isdisjoint(leads)


@dataclass
class _Benign:
    """Whether a lower-cased text has a benign sense or context; each searched once, lazily."""

    text: str
    leads: Collection[str]
    _sense: bool | None = None
    _context: bool | None = None

    @property
    def sense(self) -> bool:
        if self._sense is None:
            self._sense = found(BENIGN_SENSE, self.text, self.leads)
        return self._sense

    @property
    def context(self) -> bool:
        if self._context is None:
            self._context = benign_context(self.text, self.leads)
        return self._context


def _lexicon_scores(text: str) -> dict[str, float]:
    """Lexicon and intent scores of a text."""
    return _lexicon_and_benign(text)[0]


def _lexicon_and_benign(text: str) -> tuple[dict[str, float], _Benign]:
    """Lexicon and intent scores of a text, and its benign checks (for the model's score)."""
    text = text.lower()  # a no-op copy for `moderation_scores`, which passes it lower-cased
    words, leads = index_words(text)
    benign = _Benign(text, leads)
    out: dict[str, float] = dict.fromkeys(CATEGORY_PATTERNS, 0.0)
    for cat, patterns in CATEGORY_PATTERNS.items():
        hits = [w for pat, w in patterns for _ in scan(pat, text, leads)]
        out[cat] = _combine(hits[:6])
    if any(out.values()):
        _damp(out, benign)
    if out["self-harm"] and seeks_support(text):
        out["self-harm"] *= 0.4  # "how can I help a friend who self-harms": support, not intent
    out["sexual/minors"] = 0.9 if _sexual_near_minor(text, leads) else 0.0
    out["hate/threatening"] = min(out["hate"], max(out["violence"], 0.0)) * 1.1
    for cat, score in intent_scores(text, leads, words).items():  # damps its own matches
        out[cat] = max(out[cat], score)
    return out, benign


def _sexual_near_minor(text: str, leads: Collection[str]) -> bool:
    """A sexual word within `_MINOR_SPAN` characters of a minor (one clause or two)."""
    # Sexual words first: they are rare and gated, the minor pattern is neither.
    sexual = [m.start() for p in (SEXUAL_HINT, _SEXUAL_STRONG) for m in scan(p, text, leads)]
    if not sexual or not _runs(MINOR, leads):
        return False
    # Search only around each sexual word: a long page is not scanned end to end. The
    # window's end leaves room for the longest minor phrase that starts inside it.
    for s in sexual:
        m = MINOR.search(text, max(0, s - _MINOR_SPAN), s + _MINOR_SPAN + 64)
        if m is not None and m.start() <= s + _MINOR_SPAN:
            return True
    return False


def _damp(out: dict[str, float], benign: _Benign) -> None:
    """Scale down hits that have a benign sense or sit in a benign context."""
    sense, context = benign.sense, benign.context
    for cat, score in out.items():
        if (sense and cat in _DAMPED) or (context and cat not in _UNDAMPED):
            out[cat] = score * _BENIGN_DAMPING


def _calibrated(p: float, threshold: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    return 1.0 / (1.0 + math.exp(-(math.log(p / (1 - p)) - math.log(t / (1 - t)))))


def moderation_scores(text: str, model_path: str | None = None) -> ModerationScores:
    """Score a normalised text in every moderation category.

    ``model_path`` selects a trained model file (None: the bundled one).

    The overall score is the larger of the calibrated model score and the
    strongest lexicon category, so either source of evidence can flag a text.
    """
    low = cap_text(text).lower()  # lexicons read a bounded view: 4 KB head + 1 KB tail
    lex, benign = _lexicon_and_benign(low)
    model = load_model(model_path)
    if model is None:
        cats = {c: min(1.0, lex.get(c, 0.0)) for c in CATEGORIES}
        return ModerationScores(max(cats.values()), cats, False, lexicon=max(lex.values()))
    probs = model.predict(cached_features(cap_text(text)))
    unsafe = _calibrated(probs["unsafe"], model.threshold("unsafe"))
    if unsafe >= 0.3 and (benign.sense or benign.context):
        # A benign sense or context is evidence against the model's score too.
        unsafe = _calibrated(unsafe, _BENIGN_SHIFT)
    cats = {}
    for c in CATEGORIES:
        head = probs.get(c, 0.0) * min(1.0, 2.0 * unsafe)  # a head speaks only where unsafe agrees
        cats[c] = round(min(1.0, max(head, lex.get(c, 0.0))), 4)
    overall = round(min(1.0, max(unsafe, max(lex.values()))), 4)
    top = max(cats, key=cats.__getitem__)
    cats[top] = max(cats[top], overall)  # the strongest category carries the overall score
    return ModerationScores(overall, cats, True, round(unsafe, 4), max(lex.values()))


def injection_score(text: str) -> float:
    """Prompt-injection score in [0, 1] of a tool result or retrieved document.

    The whole text is read; hits combine (noisy-OR) within a window of
    `_INJECTION_WINDOW` characters and the strongest window scores the text, so
    weak phrases pages apart in a long document do not add up to one instruction.
    """
    text = text.lower()
    leads = word_leads(text)
    hits = [
        (m.start(), w)
        for pat, w in INJECTION_PATTERNS
        if pat is not _ROLE_MARKERS
        or any(s in text for s in ("<|", "inst]", "system", "assistant"))
        for m in scan(pat, text, leads)
    ]
    best = strongest_window(hits, len(text), _INJECTION_WINDOW, _INJECTION_WINDOW // 4)
    return round(best.score, 4)
