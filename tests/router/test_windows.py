"""Windows over long texts: coverage, per-window sums and the aggregation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router._windows import aggregate, noisy_or_per_window, window_sums, windows


def test_windows_examples() -> None:
    assert windows(0, 512, 256) == []
    assert windows("abc", 512, 256) == [(0, 3)]
    assert windows(512, 512, 256) == [(0, 512)]
    assert windows(1000, 512, 256) == [(0, 512), (256, 768), (512, 1000)]
    assert windows(10, 4, 0) == [(0, 4), (4, 8), (8, 10)]


@pytest.mark.parametrize(("n", "size", "overlap"), [(5, 0, 0), (5, 4, 4), (5, 4, -1), (-1, 4, 1)])
def test_bad_window_arguments_are_value_errors(n: int, size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="overlap"):
        windows(n, size, overlap)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    n=st.integers(0, 5000),
    size=st.integers(1, 700),
    frac=st.floats(0.0, 0.99),
    data=st.data(),
)
def test_every_short_stretch_lies_inside_one_window(
    n: int, size: int, frac: float, data: st.DataObject
) -> None:
    overlap = min(size - 1, int(size * frac))
    spans = windows(n, size, overlap)
    if n == 0:
        assert spans == []
        return
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(0 <= a < b <= n and b - a <= size for a, b in spans)
    assert all(b[0] - a[0] == size - overlap for a, b in itertools.pairwise(spans))
    assert len(spans) <= n // (size - overlap) + 1  # linear in the length
    length = data.draw(st.integers(1, min(n, overlap + 1)))
    start = data.draw(st.integers(0, n - length))
    assert any(a <= start and start + length <= b for a, b in spans)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(
    hits=st.lists(st.tuples(st.integers(0, 120), st.floats(0.0, 0.99)), max_size=30),
    size=st.integers(4, 80),
    overlap=st.integers(0, 79),
)
def test_window_sums_and_noisy_or_match_a_plain_loop(
    hits: list[tuple[int, float]], size: int, overlap: int
) -> None:
    overlap = min(overlap, size - 1)
    spans = windows(121, size, overlap)
    pos = np.array([p for p, _ in hits], dtype=np.int64)
    w = np.array([v for _, v in hits])
    two = np.stack([w, 2 * w], axis=1) if hits else np.zeros((0, 2))
    sums = window_sums(pos, two, spans)
    ors = noisy_or_per_window(pos, w, spans)
    for i, (a, b) in enumerate(spans):
        inside = [v for p, v in hits if a <= p < b]
        np.testing.assert_allclose(sums[i], [sum(inside), 2 * sum(inside)], atol=1e-9)
        np.testing.assert_allclose(ors[i], 1 - np.prod([1 - v for v in inside]), atol=1e-9)


def test_aggregate_is_the_worst_window() -> None:
    spans = windows(1000, 512, 256)
    best = aggregate(np.array([0.1, 0.7, 0.7]), spans)
    assert best.score == 0.7 and best.window == (256, 768)
    assert aggregate(np.array([]), []).window is None
