"""Ranking ``n`` completion candidates by the model's own log-probabilities.

The client asks for ``n`` sampled completions with ``logprobs: 0`` (each
token's log-probability under the model's raw distribution) and shows the
best. Candidates are ranked by **mean** log-probability per token, not by
the sum: every token adds a negative term to the sum, so the sum prefers the
shortest candidate (an empty completion would always win), while the mean
compares how sure the model was of each token, whatever the length. A
candidate without tokens ranks last; identical texts count once; ties keep
the server's order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Candidate", "rank_candidates"]


@dataclass(frozen=True)
class Candidate:
    """One completion choice and its score.

    Attributes:
        index: The choice's index in the response.
        text: The completion.
        token_logprobs: Its tokens' log-probabilities (empty when none were reported).
    """

    index: int
    text: str
    token_logprobs: tuple[float, ...]

    @property
    def sum_logprob(self) -> float:
        """Log-probability of the whole completion (-inf without tokens)."""
        return sum(self.token_logprobs) if self.token_logprobs else -math.inf

    @property
    def mean_logprob(self) -> float:
        """Mean log-probability per token: the ranking score (-inf without tokens)."""
        return self.sum_logprob / len(self.token_logprobs) if self.token_logprobs else -math.inf


def _candidate(choice: Mapping[str, Any]) -> Candidate:
    logprobs = choice.get("logprobs") or {}
    values = tuple(float(v) for v in logprobs.get("token_logprobs") or ())
    return Candidate(int(choice["index"]), str(choice["text"]), values)


def rank_candidates(choices: Iterable[Mapping[str, Any]]) -> list[Candidate]:
    """The choices of a ``/v1/completions`` response, best first (see the module docstring).

    Example:
        >>> ranked = rank_candidates([
        ...     {"index": 0, "text": "x", "logprobs": {"token_logprobs": [-2.0]}},
        ...     {"index": 1, "text": "y = 1", "logprobs": {"token_logprobs": [-0.5, -0.1, -0.3]}},
        ... ])
        >>> [c.text for c in ranked]
        ['y = 1', 'x']
    """
    seen: set[str] = set()
    unique = []
    for c in sorted((_candidate(c) for c in choices), key=lambda c: c.index):
        if c.text not in seen:
            seen.add(c.text)
            unique.append(c)
    return sorted(unique, key=lambda c: -c.mean_logprob)  # stable: ties keep the index order
