"""Prompt-lookup drafting: propose the tokens that followed the last match of the suffix.

Code edits and answers that quote a knowledge base repeat long spans of their
context; matching the most recent n-gram and copying what followed it drafts
those spans for free (no model). The index is incremental: each new token
costs O(n_max) dict updates, so drafting stays cheap on long contexts.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine._errors import EngineConfigError

__all__ = ["NgramDrafter"]


class NgramDrafter:
    """Drafts by prompt lookup over one request's prompt + generated tokens.

    Args:
        n_max: Longest suffix to match (longer matches are more reliable).
        n_min: Shortest suffix to match; below it, no proposal.
    """

    kind = "ngram"

    def __init__(self, n_max: int = 4, n_min: int = 2) -> None:
        """Create an empty index."""
        if not 1 <= n_min <= n_max:
            raise EngineConfigError(f"need 1 <= n_min <= n_max, got n_min={n_min}, n_max={n_max}")
        self.n_max, self.n_min = n_max, n_min
        self._tokens: list[int] = []
        # n-gram -> position right after its most recent occurrence
        self._last: dict[tuple[int, ...], int] = {}
        # continuation position of the match found by the last propose (for confidence)
        self.last_match_len = 0

    def extend(self, tokens: Sequence[int]) -> None:
        """Append tokens (prompt or accepted output) to the index."""
        for tok in tokens:
            self._tokens.append(tok)
            end = len(self._tokens)
            # Index n-grams ending *before* the newest token, so the newest
            # suffix never matches itself.
            for n in range(self.n_min, self.n_max + 1):
                start = end - 1 - n
                if start < 0:
                    break
                self._last[tuple(self._tokens[start : end - 1])] = end - 1

    def draft(self, context: Sequence[int], k: int) -> list[int]:
        """Index the part of ``context`` not seen yet, then `propose` up to ``k`` tokens.

        ``context`` is the request's whole token list (prompt + output); it only
        grows between calls, since rejected drafts never enter it.
        """
        self.extend(context[len(self._tokens) :])
        return self.propose(k)

    def propose(self, k: int) -> list[int]:
        """Up to ``k`` tokens that followed the most recent match of the longest suffix."""
        toks = self._tokens
        for n in range(self.n_max, self.n_min - 1, -1):
            if len(toks) < n:
                continue
            pos = self._last.get(tuple(toks[len(toks) - n :]))
            if pos is not None:
                self.last_match_len = n
                return toks[pos : pos + k]
        self.last_match_len = 0
        return []
