"""Overlapping windows over a long text, and how their scores combine.

A harmful request or an injected instruction in the middle of a long text must
score as it would alone, so long texts are scored window by window, not as one
bag of n-grams where a sentence is diluted by a megabyte of filler.

`windows` cuts ``[0, n)`` into windows of ``size`` that start every ``size -
overlap`` characters: every stretch of at most ``overlap + 1`` characters lies
whole inside one window, so a phrase that short is never cut in two. A text of
``n`` characters has about ``n / (size - overlap)`` windows.

Scores per window come from sums over the window (`window_sums`): prefix sums over
the positions of n-gram hashes or pattern hits, so the cost is linear in the text
whatever the overlap. `aggregate` combines them: the **maximum** (a text is as
unsafe as its worst window), with the window that gave it.
"""

from __future__ import annotations

from collections.abc import Sequence, Sized
from dataclasses import dataclass

import numpy as np

__all__ = [
    "WindowScore",
    "aggregate",
    "noisy_or_per_window",
    "strongest_window",
    "window_sums",
    "windows",
]


def windows(text: Sized | int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Overlapping windows ``(start, end)`` that cover a text of ``n`` characters.

    Args:
        text: The text, or its length.
        size: Characters per window (the last one may be shorter).
        overlap: Characters each window shares with the next (``0 <= overlap < size``).

    Returns:
        ``[(0, min(size, n)), (size - overlap, ...), ...]``; one window for a text no
        longer than ``size``, none for an empty text.

    Raises:
        ValueError: ``size < 1``, or ``overlap`` outside ``[0, size)``, or a negative length.
    """
    n = text if isinstance(text, int) else len(text)
    if size < 1 or not 0 <= overlap < size or n < 0:
        raise ValueError(
            f"need size >= 1, 0 <= overlap < size and n >= 0 (got {size}, {overlap}, {n})"
        )
    if n == 0:
        return []
    stride = size - overlap
    count = max(1, -(-(n - overlap) // stride))  # ceil: the last window reaches n
    return [(i * stride, min(i * stride + size, n)) for i in range(count)]


def window_sums(
    positions: np.ndarray, values: np.ndarray, spans: list[tuple[int, int]] | np.ndarray
) -> np.ndarray:
    """Per window, the sum of the ``values`` whose position lies in it.

    Args:
        positions: ``(m,)`` integer positions (any order).
        values: ``(m,)`` or ``(m, K)`` values at those positions.
        spans: ``(W, 2)`` windows ``[start, end)``.

    Returns:
        ``(W,)`` or ``(W, K)`` float64 sums (zero for a window with no position).
    """
    bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)  # (W, 2)
    order = np.argsort(positions, kind="stable")
    pos = np.asarray(positions, dtype=np.int64)[order]  # (m,)
    vals = np.asarray(values, dtype=np.float64)[order]  # (m,) or (m, K)
    prefix = np.concatenate([np.zeros((1, *vals.shape[1:])), np.cumsum(vals, axis=0)])
    lo = np.searchsorted(pos, bounds[:, 0], side="left")
    hi = np.searchsorted(pos, bounds[:, 1], side="left")
    return np.asarray(prefix[hi] - prefix[lo])


def noisy_or_per_window(
    positions: np.ndarray, weights: np.ndarray, spans: list[tuple[int, int]] | np.ndarray
) -> np.ndarray:
    """Per window, ``1 - prod(1 - w)`` over the hits inside it (independent evidence).

    Args:
        positions: ``(m,)`` where each hit starts.
        weights: ``(m,)`` hit weights in ``[0, 1]``.
        spans: ``(W, 2)`` windows.

    Returns:
        ``(W,)`` scores in ``[0, 1]``.
    """
    w = np.clip(np.asarray(weights, dtype=np.float64), 0.0, 1.0 - 1e-12)
    return np.asarray(1.0 - np.exp(window_sums(positions, np.log1p(-w), spans)))


@dataclass(frozen=True)
class WindowScore:
    """The combined score of a windowed text.

    Attributes:
        score: The largest window score (0.0 when there are no windows).
        window: The ``(start, end)`` that scored it (None when there are no windows).
    """

    score: float
    window: tuple[int, int] | None


def aggregate(scores: np.ndarray, spans: list[tuple[int, int]] | np.ndarray) -> WindowScore:
    """The maximum of per-window ``scores``, and its window (the first, on ties)."""
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if values.size == 0:
        return WindowScore(0.0, None)
    best = int(np.argmax(values))
    start, end = np.asarray(spans, dtype=np.int64).reshape(-1, 2)[best]
    return WindowScore(float(values[best]), (int(start), int(end)))


def strongest_window(
    hits: Sequence[tuple[int, float]], n: int, size: int, overlap: int
) -> WindowScore:
    """The window of a text of ``n`` characters whose hits combine (noisy-OR) highest.

    Args:
        hits: ``(position, weight)`` of each pattern hit, weights in ``[0, 1]``.
        n: The text's length.
        size: Window size (a text up to this long is one window).
        overlap: Characters shared by neighbouring windows.
    """
    if not hits:
        return WindowScore(0.0, None)
    spans = windows(max(n, 1), size, overlap)
    pos = np.array([p for p, _ in hits], dtype=np.int64)
    weights = np.array([w for _, w in hits], dtype=np.float64)
    return aggregate(noisy_or_per_window(pos, weights, spans), spans)
