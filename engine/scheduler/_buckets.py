"""Length buckets, expected output lengths and the wasted-row (padding) meter.

Requests are grouped by (prompt-length bucket, expected-output bucket),
power-of-two wide. The expected output of a request is its ``max_tokens``
capped by what requests of the same ``max_tokens`` bucket actually produced
(an exponential average of observed lengths): most chat turns stop long
before ``max_tokens``, and scheduling by the bound alone would rank them as
long jobs.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine._errors import EngineConfigError

__all__ = ["OutputLengths", "RowMeter", "bucket", "bucket_key"]


def bucket(n: int) -> int:
    """Power-of-two bucket of a length: 1-16 -> 0, 17-32 -> 1, 33-64 -> 2, ..."""
    return max(0, (max(n, 1) - 1).bit_length() - 4)


def bucket_key(prompt_tokens: int, expected_output: int) -> tuple[int, int]:
    """The (prompt, output) bucket pair requests are grouped by."""
    return bucket(prompt_tokens), bucket(expected_output)


class OutputLengths:
    """Observed output lengths per ``max_tokens`` bucket.

    Args:
        alpha: weight of a new observation in the running average.
    """

    def __init__(self, alpha: float = 0.2) -> None:
        """Start with no observations (expected = ``max_tokens``)."""
        if not 0.0 < alpha <= 1.0:
            raise EngineConfigError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self._mean: dict[int, float] = {}

    def expected(self, max_tokens: int) -> int:
        """Expected output tokens of a request allowed ``max_tokens``."""
        mean = self._mean.get(bucket(max_tokens))
        return max_tokens if mean is None else max(1, min(max_tokens, round(mean)))

    def observe(self, max_tokens: int, produced: int) -> None:
        """Record that a request allowed ``max_tokens`` produced ``produced`` tokens."""
        b = bucket(max_tokens)
        old = self._mean.get(b)
        self._mean[b] = produced if old is None else old + self.alpha * (produced - old)


@dataclass
class RowMeter:
    """Counts forward rows and the rows whose result was thrown away.

    For the dynamic (ragged) scheduler there is no padding: the wasted rows
    are rejected draft rows (computed, then rolled back). For static batching
    they are pad rows (prompts padded to the longest, finished rows carried
    until the whole batch ends).

    Attributes:
        rows: forward rows computed.
        wasted: rows whose output was discarded.
    """

    rows: int = 0
    wasted: int = 0

    @property
    def fraction(self) -> float:
        """wasted / rows (0 before any row)."""
        return self.wasted / self.rows if self.rows else 0.0

    def add(self, rows: int, wasted: int) -> None:
        """Count one forward of ``rows`` rows of which ``wasted`` were discarded."""
        self.rows += rows
        self.wasted += wasted
