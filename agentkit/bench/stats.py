"""The percentile every benchmark reports (p50, p90, p99...): one convention for the tree.

Standard library only and importing nothing else of ours, so the engine's
harness (``engine.bench``) and the examples can use it without torch or cycles.

Example:
    >>> percentile([12.0, 10.0, 11.0, 40.0, 13.0], 50)  # the median
    12.0
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["percentile"]


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile of ``values``: the sample nearest to rank ``q/100 * (n - 1)``.

    One convention for every benchmark, so that a p99 in one table means what
    it means in the next. It always returns a value that was measured (no
    interpolation between two samples), with ties at half a rank going to the
    even rank (Python's ``round``); this is ``numpy.percentile(values, q,
    method="nearest")``. ``q=0`` is the minimum, ``q=100`` the maximum.

    Args:
        values: The samples (any order; at least one; finite or not).
        q: The percentile, from 0 to 100.

    Returns:
        The chosen sample.

    Raises:
        ValueError: ``values`` is empty, or ``q`` is not a number from 0 to 100.
            Callers decide what "no samples" means for their report.

    Example:
        >>> percentile(range(1, 101), 99)
        99
        >>> percentile([5.0, 1.0, 3.0], 50)
        3.0
    """
    if isinstance(q, bool) or not isinstance(q, int | float) or not 0 <= q <= 100:
        raise ValueError(f"percentile: q must be a number from 0 to 100, got {q!r}")
    ranked = sorted(values)
    if not ranked:
        raise ValueError("percentile: no values")
    return ranked[round(q / 100 * (len(ranked) - 1))]
