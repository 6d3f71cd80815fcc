"""One speculative step over any number of sequences: draft, verify in one pass, roll back.

Each sequence drafts up to γ tokens; one ragged target forward feeds, per
sequence, its last token followed by its draft (rows at positions L..L+γ).
Verification then walks the rows in order with the *same* `accept_token` that
plain decoding uses: row i's logits are exactly the logits plain decoding
would compute after the first i drafted tokens (row-invariant kernels), so
accepting while the chosen token equals the draft reproduces plain decoding
token for token — greedy and seeded sampling alike (for a deterministic
draft: sample from the target, accept while it matches). Rejected rows are
rolled back by lowering the slot's length; their stale K/V is overwritten later.
"""

from __future__ import annotations

import time
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from typing import Protocol

import structlog
import torch

from engine._sequence import Sequence, accept_token
from engine._types import SpeculativeStats
from engine.kv_cache import KVCache
from engine.model import Transformer
from engine.speculative._adaptive import GammaController

__all__ = ["Drafter", "SpecState", "speculative_step"]

log = structlog.get_logger("engine.speculative")


class Drafter(Protocol):
    """Proposes tokens that likely follow a context."""

    kind: str  # "ngram" | "draft" | "distilled"

    def draft(self, context: Seq[int], k: int) -> list[int]:
        """Up to ``k`` tokens following ``context`` (prompt + output so far); [] for none."""
        ...


@dataclass
class SpecState:
    """Speculative bookkeeping of one sequence.

    Attributes:
        drafters: Tried in order; the first non-empty draft is used.
        controller: Adapts γ and switches speculation off when it does not pay.
        drafted, accepted: Totals over the generation.
        target_steps: Target forward passes of the decode phase.
        kinds: Drafter kinds that produced drafts.
        fallback_reason: Why speculation stopped, if it did.
    """

    drafters: tuple[Drafter, ...]
    controller: GammaController = field(default_factory=GammaController)
    drafted: int = 0
    accepted: int = 0
    target_steps: int = 0
    kinds: set[str] = field(default_factory=set)
    fallback_reason: str | None = None

    def propose(self, seq: Sequence) -> list[int]:
        """This step's draft for ``seq`` (empty when speculation is off or nothing matches)."""
        if self.fallback_reason is not None or not self.controller.active:
            self.fallback_reason = self.fallback_reason or self.controller.disabled_reason
            return []
        if self.controller.wants_plain_probe:
            return []  # a timed plain step: the baseline speculation must beat
        room = seq.params.max_tokens - len(seq.output)  # never draft past max_tokens
        k = min(self.controller.gamma, room - 1)
        if k <= 0:
            return []
        context = seq.prompt + seq.output
        for drafter in self.drafters:
            try:
                tokens = drafter.draft(context, k)
            except Exception as exc:  # a broken drafter must never cost a wrong token
                self.fallback_reason = f"drafter {drafter.kind} failed: {exc!r}"
                log.warning("speculative.drafter_failed", kind=drafter.kind, error=repr(exc))
                return []
            if tokens:
                self.kinds.add(drafter.kind)
                return tokens[:k]
        return []

    def stats(self) -> SpeculativeStats:
        """The statistics object reported with results and stream snapshots."""
        if not self.kinds:
            mode = "off"
        elif len(self.kinds) > 1:
            mode = "mixed"
        else:
            mode = next(iter(self.kinds))
        steps = max(self.target_steps, 1)
        return SpeculativeStats(
            mode=mode,  # type: ignore[arg-type]
            drafted=self.drafted,
            accepted=self.accepted,
            acceptance_rate=self.accepted / self.drafted if self.drafted else 0.0,
            target_steps=self.target_steps,
            mean_accepted_length=1.0 + self.accepted / steps,
            fallback_reason=self.fallback_reason,
        )


def _rows(
    cache: KVCache, seqs: list[Sequence], drafts: list[list[int]]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """Ragged rows: each sequence's last token and its draft, at consecutive positions."""
    tokens: list[int] = []
    slots: list[int] = []
    positions: list[int] = []
    starts: list[int] = []
    for seq, draft in zip(seqs, drafts, strict=True):
        base = cache.lengths[seq.slot]
        starts.append(len(tokens))
        row_tokens = [seq.output[-1], *draft]
        tokens += row_tokens
        slots += [seq.slot] * len(row_tokens)
        positions += range(base, base + len(row_tokens))
    as_long = torch.tensor
    return (
        as_long(tokens, dtype=torch.long),  # (R,)
        as_long(slots, dtype=torch.long),  # (R,)
        as_long(positions, dtype=torch.long),  # (R,)
        starts,
    )


def _verify(seq: Sequence, logits: torch.Tensor, draft: list[int], max_len: int) -> tuple[int, int]:
    """Accept tokens from ``logits`` (γ+1, V) while they match ``draft``.

    Row i predicts the token after the last token and ``draft[:i]``. The loop
    stops at the first token that differs from the draft (that token is the
    target's own choice), after the bonus row, or when the sequence finishes.

    Returns:
        (rows whose K/V stay valid in the cache, drafted tokens accepted).
    """
    for i in range(len(draft) + 1):
        token = accept_token(seq, logits[i], max_len)
        matched = i < len(draft) and token == draft[i]
        if seq.finish_reason is not None or not matched:
            return i + 1, i + int(matched)
    raise AssertionError("unreachable: the bonus row always ends the loop")


def speculative_step(
    model: Transformer, cache: KVCache, seqs: list[Sequence], states: list[SpecState], max_len: int
) -> None:
    """One target forward for every sequence, each with its own draft (ragged acceptance).

    A sequence with no draft this step runs plain in the same pass (one row).
    A sequence decoding alone has the step timed (drafting, forward and
    verification) for its controller's speed check.
    """
    t0 = time.perf_counter()
    drafts = [state.propose(seq) for seq, state in zip(seqs, states, strict=True)]
    tokens, slots, positions, starts = _rows(cache, seqs, drafts)
    logits = model.forward(tokens, slots, positions, cache)  # (R, V)
    for seq, state, draft, start in zip(seqs, states, drafts, starts, strict=True):
        before = len(seq.output)
        kept, accepted = _verify(seq, logits[start : start + len(draft) + 1], draft, max_len)
        if len(seqs) == 1 and state.controller.active:
            seconds = time.perf_counter() - t0
            if draft:
                state.controller.observe_speculative(len(seq.output) - before, seconds, len(draft))
            elif state.controller.wants_plain_probe:
                state.controller.observe_plain(seconds)
        # rows 0..kept-1 hold real tokens (the last token and the accepted drafts);
        # the rest is rolled back and overwritten later
        cache.lengths[seq.slot] += kept
        state.target_steps += 1
        if draft:
            state.drafted += len(draft)
            state.accepted += accepted
            state.controller.update(len(draft), accepted)
