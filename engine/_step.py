"""One engine step: a ragged forward over prompt chunks and decode rows, then sampling.

The decoding ladder, bottom up:

1. `engine.sampling.sample`: a token from a row of logits;
2. `engine._sequence.accept_token`: sample for a sequence, update its text and stops;
3. `engine._sequence.verify`: accept a sequence's k drafted tokens while the
   target's own choice equals them (k = 0: one plain token);
4. `step` (here): one `Transformer.forward` over every row of the step, then
   2 for each prompt it completes and 3 for each decoding sequence.

Rows are laid out as: the prompt chunks (prefill), then, per decoding
sequence, its last token followed by its draft. The kernels are
row-invariant, so each row's logits equal what that sequence alone would get:
chunking, batching and speculation never change a token. The scheduler
(`engine.scheduler`) decides what each step holds and runs it through `step`;
nothing else decodes.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from engine._sequence import Sequence, accept_token, verify
from engine.kv_cache import KVCache
from engine.model import Transformer

__all__ = ["Decode", "Prefill", "step"]


@dataclass(frozen=True)
class Prefill:
    """Prompt tokens ``seq.prompt[start : start + n]`` fed this step (at those positions)."""

    seq: Sequence
    start: int
    n: int

    @property
    def completes(self) -> bool:
        """Whether this chunk ends the prompt (its last row's logits give the first token)."""
        return self.start + self.n == len(self.seq.prompt)


@dataclass(frozen=True)
class Decode:
    """A decoding sequence's last token and the k tokens drafted after it (k may be 0)."""

    seq: Sequence
    draft: list[int]


@dataclass
class _Rows:
    """The step's layout: one entry per row, and the rows whose logits are read."""

    tokens: list[int]
    slots: list[int]
    positions: list[int]
    need: list[int]


def _layout(cache: KVCache, prefills: Seq[Prefill], decodes: Seq[Decode]) -> _Rows:
    rows = _Rows([], [], [], [])
    for p in prefills:
        rows.tokens += p.seq.prompt[p.start : p.start + p.n]
        rows.slots += [p.seq.slot] * p.n
        rows.positions += range(p.start, p.start + p.n)
        if p.completes:  # the head only where it is read: a prompt's last row
            rows.need.append(len(rows.tokens) - 1)
    for d in decodes:
        base = cache.lengths[d.seq.slot]
        n = len(d.draft) + 1
        rows.need += range(len(rows.tokens), len(rows.tokens) + n)
        rows.tokens += [d.seq.output[-1], *d.draft]
        rows.slots += [d.seq.slot] * n
        rows.positions += range(base, base + n)
    return rows


def step(
    model: Transformer,
    cache: KVCache,
    prefills: Seq[Prefill],
    decodes: Seq[Decode],
    max_len: int,
    lock: AbstractContextManager[Any] | None = None,
) -> list[tuple[int, int]]:
    """Run one step: feed the prompt chunks, decode and verify, in one forward.

    A prompt chunk writes its K/V and, when it completes the prompt, samples
    the first token. A decode row feeds the sequence's last token and its
    draft; `verify` then accepts what matches, and the slot keeps the K/V of
    the rows it kept (rejected rows are rolled back by the length alone: their
    stale entries are overwritten later). ``cache.lengths`` follows.

    Args:
        model: the target.
        cache: its KV cache; each sequence's slot.
        prefills: prompt chunks, at most one per sequence.
        decodes: decoding sequences with their drafts (each sequence once).
        max_len: the context length; a sequence ends ("length") when it is full.
        lock: held around the forward (the engine's: one forward at a time).

    Returns:
        (rows kept, drafted tokens accepted) per entry of ``decodes``.
    """
    rows = _layout(cache, prefills, decodes)
    t = torch.tensor
    with lock if lock is not None else nullcontext():
        logits = model.forward(
            t(rows.tokens, dtype=torch.long),
            t(rows.slots, dtype=torch.long),
            t(rows.positions, dtype=torch.long),
            cache,
            t(rows.need, dtype=torch.long),
        )  # (len(rows.need), V)
    at = 0
    for p in prefills:
        cache.lengths[p.seq.slot] = p.start + p.n
        if p.completes:
            accept_token(p.seq, logits[at], max_len)
            at += 1
    out: list[tuple[int, int]] = []
    for d in decodes:
        kept, accepted = verify(d.seq, logits[at : at + len(d.draft) + 1], d.draft, max_len)
        cache.lengths[d.seq.slot] += kept
        at += len(d.draft) + 1
        out.append((kept, accepted))
    return out
