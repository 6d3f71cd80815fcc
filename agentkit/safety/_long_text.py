"""Moderation of long texts: a clearly harmful stretch anywhere in a text flags it.

A text of up to `SHORT_CHARS` characters is scored whole by `moderation_scores`,
as it always was. A longer one used to be scored on its first 4 KB and last 1 KB
only (`router._normalize.cap_text`), so "pipe bomb to kill my neighbour" in the
middle of a long paste was allowed. Now:

1. the head-and-tail view is scored as before, and counts as before;
2. the text is cut into overlapping windows of `WINDOW_CHARS` that start every
   ``WINDOW_CHARS - OVERLAP_CHARS`` characters (`router._windows.windows`): a
   sentence of up to ``OVERLAP_CHARS + 1`` characters lies whole in one window;
3. every window gets a cheap score: the model's ``unsafe`` head over the
   window's character 3/4/5-grams, the hashed n-grams `featurize` uses, summed
   with prefix sums over a per-byte weight (vectorised, linear in the length:
   `router._linear.gram_weight_per_byte`); a megabyte takes tens of ms;
4. the `EXACT_WINDOWS` windows with the highest cheap score are scored exactly
   by `moderation_scores`, and a window counts only when two independent kinds
   of evidence agree on it: a lexicon or intent pattern at `WINDOW_LEXICON` or
   more, and the model's calibrated score at `WINDOW_MODEL` or more;
5. the text's score per category is the maximum over the views that count.

Why the stricter bar for windows: a long text has one window per 320
characters, and the filter's row-level false-flag rate on ordinary web text is
a few per cent (4.1 % of wikitext rows), so "flag if any window would be
flagged alone" flagged 61 % of 20 KB wikitext documents (measured). With both
kinds of evidence required, 0 of 2,149 wikitext rows and 1 of 1,500 SMS rows
pass (the training corpus's benign sources; the bars were set on them, not on
dev). The price is recall (`scripts/long_text_eval.py`, docs/routing.md): of the
498 harmful dev, HarmBench and CoCoNot requests the filter flags on their own,
94 (19 %) are flagged in the middle of 12 KB of wikitext, against 31 (6 %, all
by the filler's own false flags) before; the windows flag 2 more of 673 safe
look-alikes, and none of 300 wikitext documents of 20 KB.

Without a model there is no cheap score and no second kind of evidence: a long
text is scored on its head-and-tail view only, as before.
"""

from __future__ import annotations

import numpy as np

from agentkit.safety._policy import CATEGORIES
from agentkit.safety._scoring import ModerationScores, moderation_scores
from router._layered import load_model
from router._linear import LinearModel, gram_weight_per_byte
from router._normalize import HEAD_CHARS, TAIL_CHARS, cap_text
from router._windows import windows

__all__ = ["EXACT_WINDOWS", "SHORT_CHARS", "WINDOW_CHARS", "combine", "counts", "score_text"]

SHORT_CHARS = HEAD_CHARS + TAIL_CHARS + 1  # up to here `cap_text` reads the whole text
WINDOW_CHARS = 512  # about the 600 characters `featurize` reads: a window is one request's worth
OVERLAP_CHARS = 192  # a sentence of up to 193 characters lies whole in some window
EXACT_WINDOWS = 16  # ~5 ms of exact scoring, whatever the length
WINDOW_LEXICON = 0.8  # a window counts when a lexicon or intent pattern scores this...
WINDOW_MODEL = 0.5  # ...and the model's calibrated unsafe score is at its threshold


def score_text(text: str, model_path: str | None = None) -> ModerationScores:
    """`moderation_scores` of a normalised text of any length (see the module docstring)."""
    if len(text) <= SHORT_CHARS:
        return moderation_scores(text, model_path)
    head_tail = moderation_scores(cap_text(text), model_path)
    model = load_model(model_path)
    if model is None:
        return head_tail
    spans = strongest_windows(
        text, windows(text, WINDOW_CHARS, OVERLAP_CHARS), model, EXACT_WINDOWS
    )
    scored = (moderation_scores(text[s:e], model_path) for s, e in spans)
    return combine([head_tail, *(w for w in scored if counts(w))])


def counts(window: ModerationScores) -> bool:
    """Whether a window's scores count toward its text's (both kinds of evidence agree)."""
    return window.lexicon >= WINDOW_LEXICON and window.model_unsafe >= WINDOW_MODEL


def strongest_windows(
    text: str, spans: list[tuple[int, int]], model: LinearModel, k: int
) -> list[tuple[int, int]]:
    """The ``k`` spans with the highest cheap ``unsafe`` score, in text order."""
    scores = window_unsafe_logits(text, spans, model)
    top = np.argsort(-scores, kind="stable")[:k]
    return [spans[i] for i in sorted(top.tolist())]


def window_unsafe_logits(text: str, spans: list[tuple[int, int]], model: LinearModel) -> np.ndarray:
    """Per span, the ``unsafe`` head's logit over its character n-grams alone.

    As `featurize` scales them: each n-gram weighs ``1/sqrt(n)`` for the ``n``
    n-grams of the window (three per byte); digits folded to ``0``; whitespace
    runs are not collapsed (a ranking, not the exact score).
    """
    low = text.lower()
    data = np.frombuffer(low.encode("utf-8", "replace"), dtype=np.uint8).copy()
    data[(data >= ord("0")) & (data <= ord("9"))] = ord("0")
    column = np.ascontiguousarray(model.hashed[:, model.heads.index("unsafe")])
    per_byte = gram_weight_per_byte(data, column)
    bounds = _byte_offsets(low)[np.clip(np.asarray(spans), 0, len(low))]  # (W, 2) in bytes
    prefix = np.concatenate([[0.0], np.cumsum(per_byte, dtype=np.float64)])
    sums = prefix[bounds[:, 1]] - prefix[bounds[:, 0]]
    grams = 3.0 * np.maximum(1, bounds[:, 1] - bounds[:, 0])
    bias = float(model.bias[model.heads.index("unsafe")])
    return np.asarray(sums / np.sqrt(grams) + bias, dtype=np.float64)


def _byte_offsets(text: str) -> np.ndarray:
    """``(len(text) + 1,)``: the UTF-8 byte offset of each character (``replace`` errors)."""
    if text.isascii():
        return np.arange(len(text) + 1)
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    surrogate = (points >= 0xD800) & (points <= 0xDFFF)  # "replace" writes one "?"
    sizes = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000) - 2 * surrogate
    return np.concatenate([[0], np.cumsum(sizes)])


def combine(parts: list[ModerationScores]) -> ModerationScores:
    """Per category, and overall, the maximum over the views of one text."""
    cats = {c: max(p.categories[c] for p in parts) for c in CATEGORIES}
    return ModerationScores(
        max(p.unsafe for p in parts), cats, all(p.model_available for p in parts),
        max(p.model_unsafe for p in parts), max(p.lexicon for p in parts),
    )  # fmt: skip
