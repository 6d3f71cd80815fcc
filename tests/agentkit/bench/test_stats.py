"""`agentkit.bench.stats.percentile`: the one percentile convention of every benchmark."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit.bench import stats
from agentkit.bench.stats import percentile

samples = st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(values=samples, q=st.floats(0, 100) | st.integers(0, 100))
def test_percentile_is_numpys_nearest_method(values: list[float], q: float) -> None:
    expected = float(np.percentile(np.array(values, dtype=np.float64), q, method="nearest"))
    assert percentile(values, q) == expected


@settings(derandomize=True, max_examples=200, deadline=None)
@given(values=samples, low=st.floats(0, 100), high=st.floats(0, 100))
def test_percentile_is_a_measured_sample_and_grows_with_q(
    values: list[float], low: float, high: float
) -> None:
    low, high = sorted((low, high))
    assert percentile(values, low) in values
    assert percentile(values, low) <= percentile(values, high)
    assert (percentile(values, 0), percentile(values, 100)) == (min(values), max(values))


def test_percentile_of_known_samples() -> None:
    one_to_hundred = [float(v) for v in range(1, 101)]
    assert [percentile(one_to_hundred, q) for q in (0, 50, 90, 99, 100)] == [1, 51, 90, 99, 100]
    assert percentile([10.0, 30.0, 20.0], 50) == 20.0  # order does not matter
    assert percentile(iter([4.0]), 99) == 4.0  # any iterable, one sample
    assert percentile([1.0, 2.0], 50) == 1.0  # half a rank goes to the even rank (0)
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 3.0  # rank 1.5 -> 2


@pytest.mark.parametrize("q", [-0.1, 100.5, math.nan, math.inf, "99", None, True])
def test_percentile_refuses_a_q_outside_0_to_100(q: object) -> None:
    with pytest.raises(ValueError, match="q must be a number from 0 to 100"):
        percentile([1.0, 2.0], q)  # type: ignore[arg-type]


def test_percentile_of_nothing_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_the_docstring_examples_run() -> None:
    result = doctest.testmod(stats)
    assert result.failed == 0 and result.attempted > 0
