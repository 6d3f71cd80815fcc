"""Alternated rounds and their summary: how every engine-vs-peer ratio is measured.

A ratio from one back-to-back run of each engine mostly measures the minute
it ran in (this machine's speed drifts by ±15% from minute to minute). So
each comparison runs in rounds, every engine once per round in a fixed
order (ours, peer, ours, peer, ...), and reports each number as the median
of its rounds with the range beside it.

Example:
    >>> alternate(["agentkit", "llama.cpp"], 2)
    [(0, 'agentkit'), (0, 'llama.cpp'), (1, 'agentkit'), (1, 'llama.cpp')]
    >>> spread([3.0, 1.0, 2.0])
    Spread(median=2.0, low=1.0, high=3.0, n=3)
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Spread", "alternate", "spread"]


def alternate(engines: Sequence[str], rounds: int) -> list[tuple[int, str]]:
    """The run order: ``rounds`` rounds, each running every engine once, in the given order.

    Raises:
        ValueError: ``rounds`` < 1, no engines, or an engine named twice.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if not engines or len(set(engines)) != len(engines):
        raise ValueError(f"engines must be distinct and at least one, got {list(engines)}")
    return [(r, e) for r in range(rounds) for e in engines]


@dataclass(frozen=True)
class Spread:
    """A measured quantity over rounds.

    Attributes:
        median: the median of the rounds (what ratios are computed from).
        low, high: the smallest and largest round.
        n: how many rounds.
    """

    median: float
    low: float
    high: float
    n: int


def spread(values: Iterable[float]) -> Spread:
    """The median and range of ``values`` (one per round).

    Raises:
        ValueError: no values.
    """
    xs = list(values)
    if not xs:
        raise ValueError("spread: no values")
    return Spread(statistics.median(xs), min(xs), max(xs), len(xs))
