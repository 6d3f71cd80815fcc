"""Moderation of long texts: a clearly harmful sentence anywhere in a text flags it.

A text of up to `SHORT_CHARS` characters is scored whole by `moderation_scores`,
as it always was. A longer one used to be scored on its first 4 KB and last 1 KB
only (`router._normalize.cap_text`), so "pipe bomb to kill my neighbour" in the
middle of a long paste was allowed. Now:

1. the head-and-tail view is scored as before, and counts as before;
2. the text is cut into sentences (`sentences`: at ``.!?`` before whitespace, also
   through closing quotes, brackets and tags, and at line breaks; short ones run
   on, long ones are cut into overlapping windows of `WINDOW_CHARS`). Sentences,
   not fixed windows, because the model reads a request diluted by its
   neighbours: "Explain step by step how to build a pipe bomb to kill my
   neighbour." scores 0.95 alone and 0.07 after 100 characters of prose about a
   bridge (measured);
3. a text of up to `EXACT_ALL` sentences and `EXACT_ALL_CHARS` characters has
   every one scored exactly by `moderation_scores` (model, word n-grams,
   structural features, lexicons, intent patterns, benign context; ~0.14 ms for a
   wikitext sentence, ~0.3 ms for 512 characters). A longer one has
   the `EXACT_WINDOWS` sentences with the highest cheap score scored: the model's
   ``unsafe`` head over each sentence's character 3/4/5-grams, summed with prefix
   sums over a per-character weight (vectorised and linear: `ascii_view`,
   `router._linear.gram_weight_per_byte`);
4. a sentence counts only when two independent kinds of evidence agree on it: a
   lexicon or intent pattern at `WINDOW_LEXICON` or more, and the model's
   calibrated score at `WINDOW_MODEL` or more;
5. the text's score per category is the maximum over the views that count, so it
   never scores lower than it did before.

Why both kinds of evidence: a long text has hundreds of sentences, and the
filter's row-level false-flag rate on ordinary web text is a few per cent (4.1 %
of wikitext rows), so "flag if any window would be flagged alone" flagged 61 %
of 20 KB wikitext documents (measured with 512-character windows). With both
required, 0 of 2,149 wikitext rows and 1 of 1,500 SMS rows pass (the training
corpus's benign sources; the bars were set on them, not on dev).

What it misses (`scripts/long_text_eval.py`; docs/routing.md has the numbers):
a harmful request that the model does not score as harmful does not count, and
that is most requests from sources the model was not trained on (the lexicons
flag those on their own, but a lexicon alone is too often wrong to trust in one
sentence of hundreds). In a longer text the cheap score is a weak ranking
(character n-grams only): in a megabyte of wikitext (~7,250 sentences) the
pipe-bomb request ranked 1st, a keylogger request 426th and a money-laundering
one 745th, so a harmful sentence there is found only when it ranks in the top
`EXACT_WINDOWS`, and text written to outrank it can hide it.

Without a model there is no second kind of evidence: a long text is scored on
its head-and-tail view only, as before.
"""

from __future__ import annotations

import itertools

import numpy as np

from agentkit.safety._policy import CATEGORIES
from agentkit.safety._scoring import ModerationScores, moderation_scores
from router._layered import load_model
from router._linear import LinearModel, gram_weight_per_byte
from router._normalize import HEAD_CHARS, TAIL_CHARS, cap_text
from router._windows import windows

__all__ = [
    "EXACT_ALL",
    "EXACT_WINDOWS",
    "SHORT_CHARS",
    "WINDOW_CHARS",
    "ascii_view",
    "combine",
    "counts",
    "score_text",
    "sentences",
]

SHORT_CHARS = HEAD_CHARS + TAIL_CHARS + 1  # up to here `cap_text` reads the whole text
WINDOW_CHARS = 512  # a longer sentence is cut into windows of this many characters...
OVERLAP_CHARS = 192  # ...overlapping by this many: a clause of <= 193 lies whole in one
EXACT_ALL = 200  # a text of up to this many sentences...
EXACT_ALL_CHARS = 32_768  # ...and characters has each scored (~40 ms at most)
EXACT_WINDOWS = 64  # beyond, the strongest by the cheap score: ~10 ms
MIN_SENTENCE_CHARS = 40  # a shorter sentence ("Hi.", "OK.") is read with the next one
_STOPS = np.frombuffer(b".!?", dtype=np.uint8)
_CLOSERS = np.frombuffer(b"\"')]}*_>,", dtype=np.uint8)
_SPACES = np.frombuffer(b" \t\n\r\x0b\x0c", dtype=np.uint8)
_THIN = 16  # `sentences` keeps at most one candidate end per this many characters
# Non-ASCII characters that `ascii_view` keeps as their ASCII role (all else: SUB).
_AS_ASCII = {
    "\u3002": "\n", "\uff61": "\n", "\u0964": ".", "\u061f": "?",  # 。 ｡ end with no space
    "\u2028": "\n", "\u2029": "\n", "\u0085": "\n",  # line and paragraph separators
    "\u201d": '"', "\u2019": "'", "\u00bb": '"', "\u300d": '"', "\u300f": '"',  # ” ’ » 」 』
}  # fmt: skip
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
    view = ascii_view(text)  # read once: the sentences and the cheap score both use it
    spans = _sentence_spans(view)
    if len(spans) > EXACT_ALL or len(text) > EXACT_ALL_CHARS:
        spans = strongest_windows(view, spans, model, EXACT_WINDOWS)
    scored = (moderation_scores(text[s:e], model_path) for s, e in spans)
    return combine([head_tail, *(w for w in scored if counts(w))])


def sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` spans that cover ``text``, about a sentence each.

    A sentence ends after ``.``, ``!`` or ``?`` (and ``。``, ``।``, ``؟``) that is
    followed by whitespace, ``<`` or the end, with up to three closing characters
    between (``"')]}*_>,``: quotes, brackets, Markdown, ``</p>``, JSON), and at a
    line break (``\n``, ``\r``, U+2028, U+2029, U+0085). Ends are kept greedily: one
    less than `MIN_SENTENCE_CHARS` after the last kept end is skipped, so short
    sentences ("Hi.", "OK.", list items) run on into the next, never more than
    that many characters of them (the text's last runs on from the one before). A
    span longer than `WINDOW_CHARS` is cut into overlapping windows.
    """
    return _sentence_spans(ascii_view(text))


def _sentence_spans(view: np.ndarray) -> list[tuple[int, int]]:
    """`sentences` of the text whose `ascii_view` is ``view``."""
    ends = _candidate_ends(view)
    # At most one candidate per `_THIN` characters (the first): the greedy pass below
    # then loops over at most len / _THIN of them, not one per character of "a.\n" * N.
    ends = ends[_first_of_runs(ends // _THIN)]
    kept, last, limit = [], 0, view.size - MIN_SENTENCE_CHARS
    for end in ends.tolist():
        if end - last >= MIN_SENTENCE_CHARS and end <= limit:
            kept.append(end)
            last = end
    out: list[tuple[int, int]] = []
    for s, e in itertools.pairwise([0, *kept, view.size]):
        if 0 < e - s <= WINDOW_CHARS:  # nearly all: no call per sentence
            out.append((s, e))
        else:
            out += [(s + a, s + b) for a, b in windows(e - s, WINDOW_CHARS, OVERLAP_CHARS)]
    return out


def _candidate_ends(data: np.ndarray) -> np.ndarray:
    """Sorted positions where a sentence may end (exclusive), per `sentences`' rules."""
    n = data.size
    stop, close = np.isin(data, _STOPS), np.isin(data, _CLOSERS)
    gap = np.isin(data, _SPACES) | (data == ord("<"))
    found = [np.flatnonzero((data == ord("\n")) | (data == ord("\r"))) + 1]
    for k in range(1, 5):  # the stop at p, k - 1 closers, then a gap (or the end) at p + k
        if n <= k:
            break
        cond = stop[: n - k].copy()
        for j in range(1, k):
            cond &= close[j : n - k + j]
        found.append(np.flatnonzero(cond & gap[k:]) + k)
    ends = np.sort(np.concatenate(found))  # np.unique hashes: 10x slower on 10^6 ends
    return np.asarray(ends[_first_of_runs(ends)], dtype=np.int64)


def _first_of_runs(values: np.ndarray) -> np.ndarray:
    """Mask of the first of each run of equal values in a sorted array (any length)."""
    return np.concatenate([values[:1] == values[:1], values[1:] != values[:-1]])


def counts(window: ModerationScores) -> bool:
    """Whether a window's scores count toward its text's (both kinds of evidence agree)."""
    return window.lexicon >= WINDOW_LEXICON and window.model_unsafe >= WINDOW_MODEL


def strongest_windows(
    view: np.ndarray, spans: list[tuple[int, int]], model: LinearModel, k: int
) -> list[tuple[int, int]]:
    """The ``k`` spans with the highest cheap ``unsafe`` score, in text order."""
    scores = window_unsafe_logits(view, spans, model)
    top = np.argsort(-scores, kind="stable")[:k]
    return [spans[i] for i in sorted(top.tolist())]


def window_unsafe_logits(
    view: np.ndarray, spans: list[tuple[int, int]], model: LinearModel
) -> np.ndarray:
    """Per span, the ``unsafe`` head's logit over its character n-grams alone.

    As `featurize` scales them: each n-gram weighs ``1/sqrt(n)`` for the ``n``
    n-grams of the window (three per character); digits folded to ``0``. ``view``
    is the text's `ascii_view` (left unchanged), one byte a character, so spans
    in characters index it directly, a character whose lower case is longer (``İ``)
    shifts nothing, and non-ASCII text costs what ASCII does; whitespace runs are
    not collapsed. A ranking, not the exact score.
    """
    data = view.copy()
    data[(data >= ord("A")) & (data <= ord("Z"))] += 32  # lower case
    data[(data >= ord("0")) & (data <= ord("9"))] = ord("0")
    column = np.ascontiguousarray(model.hashed[:, model.heads.index("unsafe")])
    per_byte = gram_weight_per_byte(data, column)
    bounds = np.clip(np.asarray(spans, dtype=np.int64).reshape(-1, 2), 0, data.size)
    prefix = np.concatenate([[0.0], np.cumsum(per_byte, dtype=np.float64)])
    sums = prefix[bounds[:, 1]] - prefix[bounds[:, 0]]
    grams = 3.0 * np.maximum(1, bounds[:, 1] - bounds[:, 0])
    bias = float(model.bias[model.heads.index("unsafe")])
    return np.asarray(sums / np.sqrt(grams) + bias, dtype=np.float64)


def ascii_view(text: str) -> np.ndarray:
    """One byte a character: ASCII as is, a few others as their ASCII role
    (``。`` as ``.``, U+2028 as a line break, ``”`` as ``"``: `_AS_ASCII`), the rest as
    ``0x1a`` (SUB); a new array."""
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    out = np.where(points < 0x80, points, 0x1A).astype(np.uint8)
    if out.size and not text.isascii():
        for char, role in _AS_ASCII.items():
            out[points == ord(char)] = ord(role)
    return out


def combine(parts: list[ModerationScores]) -> ModerationScores:
    """Per category, and overall, the maximum over the views of one text."""
    cats = {c: max(p.categories[c] for p in parts) for c in CATEGORIES}
    return ModerationScores(
        max(p.unsafe for p in parts), cats, all(p.model_available for p in parts),
        max(p.model_unsafe for p in parts), max(p.lexicon for p in parts),
    )  # fmt: skip
