"""Statistics the benchmarks share: one percentile convention for the whole tree.

A leaf package: it imports nothing from ``agentkit``, ``engine``, ``router`` or
``tools``, and nothing outside the standard library, so that every package's
benchmark harness (``agentkit.bench``, ``engine``'s benchmarks) and the
examples can import it without a cycle, and without torch.

Example:
    >>> percentile([12.0, 10.0, 11.0, 40.0, 13.0], 50)  # the median
    12.0
"""

from benchstats._percentile import percentile

__all__ = ["percentile"]
