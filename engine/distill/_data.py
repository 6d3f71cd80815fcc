"""Distillation data: the target's own answers to a prompt set, with its distributions.

The target generates every prompt's response (greedy, and optionally one
sampled response) through `MirrorLlama.decode`: many prompts in lock-step,
one dense GEMM per weight for the whole batch, finished sequences replaced by
new prompts (continuous batching). The logits computed while generating *are*
the teacher-forced next-token distribution at each response position, so no
second teacher pass is needed; we keep the top-``k`` log-probabilities of
each (bounded memory) and write them to shards.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from engine.distill._mirror import MirrorLlama

__all__ = ["PromptRow", "Sample", "generate_samples", "load_prompts", "load_shards", "save_shard"]


@dataclass(frozen=True)
class PromptRow:
    """One prompt of the distillation set.

    Attributes:
        category: e.g. ``customer_service``, ``code``, ``code_edit``, ``chat``.
        messages: OpenAI-shaped chat messages (rendered by the target's template).
        heldout: reserved for the acceptance report, never trained on.
    """

    category: str
    messages: tuple[dict[str, str], ...]
    heldout: bool = False


@dataclass
class Sample:
    """A prompt + the target's response, with its top-k distribution at each response position.

    Attributes:
        category, heldout: from the prompt.
        tokens: prompt + response token ids.
        n_prompt: length of the prompt part.
        top_ids: (R, k) int32 most likely next tokens at each response position.
        top_logp: (R, k) float16 their log-probabilities (full-vocabulary softmax).
        sampled: the response was sampled (else greedy).
        job: index of the prompt in the prompt set.
    """

    category: str
    heldout: bool
    tokens: list[int]
    n_prompt: int
    top_ids: torch.Tensor
    top_logp: torch.Tensor
    sampled: bool = False
    job: int = -1


def load_prompts(path: str | pathlib.Path) -> list[PromptRow]:
    """Read a JSONL prompt set: ``{"category", "messages" | "prompt", "heldout"?}`` per line.

    Raises:
        ValueError: a line without a category or any prompt text.
    """
    rows = []
    for n, line in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        raw = json.loads(line)
        msgs = raw.get("messages") or [{"role": "user", "content": raw.get("prompt", "")}]
        if "category" not in raw or not msgs[-1].get("content"):
            raise ValueError(f"{path}:{n}: need a category and a non-empty prompt")
        rows.append(PromptRow(raw["category"], tuple(msgs), bool(raw.get("heldout", False))))
    return rows


@dataclass
class _Live:
    """A sequence being generated in one batch slot."""

    row: int
    tokens: list[int]
    n_prompt: int
    sampled: bool
    ids: list[torch.Tensor] = field(default_factory=list)
    logp: list[torch.Tensor] = field(default_factory=list)


def generate_samples(
    target: MirrorLlama,
    prompts: Sequence[tuple[list[int], bool]],
    *,
    stop_ids: set[int],
    max_new: int,
    batch: int,
    temperature: float,
    top_k: int,
    seed: int,
    on_token: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, Sample]]:
    """Generate each prompt's response with continuous batching.

    Args:
        target: the target mirror (full head).
        prompts: (prompt tokens, sample?) per job; greedy when not sampled.
        stop_ids: tokens that end a response (kept as its last token).
        max_new: response length cap.
        batch: sequences decoded together.
        temperature: for sampled jobs.
        top_k: log-probs kept per position.
        seed: sampling seed.
        on_token: progress callback, called with the tokens made per step.

    Yields:
        (job index, sample) as jobs finish (category fields left for the caller).
    """
    gen = torch.Generator().manual_seed(seed)
    cfg = target.cfg
    max_len = max(len(p) for p, _ in prompts) + max_new + 1
    # slots 0..batch-1 decode; slot `batch` keeps the last prompt's K/V for prefix reuse
    shape = (len(target.blocks), batch + 1, cfg.n_kv_heads, max_len, cfg.head_dim)
    kv = (torch.zeros(shape), torch.zeros(shape))  # (NL, B+1, Hkv, L, Dh)
    # Sorted prompts put shared prefixes (system prompts, templates) next to each
    # other, so each prefill only computes what differs from the previous prompt.
    pending = sorted(range(len(prompts)), key=lambda j: prompts[j][0], reverse=True)
    stored: list[int] = []
    live: dict[int, _Live] = {}
    while pending or live:
        for slot in range(batch):
            if slot not in live and pending:
                job = pending.pop()
                toks, sampled = prompts[job]
                seq = _Live(job, list(toks), len(toks), sampled)
                logits = _prefill_reusing(target, toks, slot, batch, stored, kv)  # (V,)
                stored = list(toks)
                live[slot] = seq
                vals, ids = torch.log_softmax(logits, dim=-1).topk(top_k)  # (k,)
                _take(seq, logits, vals, ids, gen, temperature)
        for s in [s for s in sorted(live) if _finished(live[s], stop_ids, max_new)]:
            seq = live.pop(s)
            yield seq.row, _to_sample(seq)
        if not live:
            continue
        # Idle slots below the highest live one decode a dummy token at position 0
        # (a later prefill overwrites it); slots above it are skipped (a view).
        n = max(live) + 1
        tok = torch.zeros(n, dtype=torch.long)
        pos = torch.zeros(n, dtype=torch.long)
        for s, seq in live.items():
            tok[s], pos[s] = seq.tokens[-1], len(seq.tokens) - 1
        logits = target.decode(tok, pos, (kv[0][:, :n], kv[1][:, :n]))  # (n, V)
        slots = sorted(live)
        logp = torch.log_softmax(logits[slots], dim=-1)  # (B, V)
        top_vals, top_ids = logp.topk(top_k, dim=-1)  # (B, k)
        for i, s in enumerate(slots):
            _take(live[s], logits[s], top_vals[i], top_ids[i], gen, temperature)
        if on_token is not None:
            on_token(len(slots))


def _prefill_reusing(
    target: MirrorLlama,
    toks: list[int],
    slot: int,
    store: int,
    stored: list[int],
    kv: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """Prefill ``toks`` into ``slot``, copying the prefix shared with ``stored`` from ``store``."""
    n = 0
    limit = min(len(stored), len(toks) - 1)  # prefill at least one token for its logits
    while n < limit and stored[n] == toks[n]:
        n += 1
    for c in kv:
        c[:, slot, :, :n] = c[:, store, :, :n]
    logits = target.prefill(torch.tensor(toks[n:]), slot, n, kv)
    for c in kv:
        c[:, store, :, : len(toks)] = c[:, slot, :, : len(toks)]
    return logits


def _take(
    seq: _Live,
    logits: torch.Tensor,
    top_vals: torch.Tensor,
    top_ids: torch.Tensor,
    gen: torch.Generator,
    temperature: float,
) -> None:
    """Record one position's top-k log-probs (k,) and append the chosen token."""
    seq.ids.append(top_ids.to(torch.int32))
    seq.logp.append(top_vals.to(torch.float16))
    if seq.sampled and temperature > 0:
        probs = torch.softmax(logits / temperature, dim=-1)  # (V,)
        tok = int(torch.multinomial(probs, 1, generator=gen))
    else:
        tok = int(top_ids[0])
    seq.tokens.append(tok)


def _finished(seq: _Live, stop_ids: set[int], max_new: int) -> bool:
    return seq.tokens[-1] in stop_ids or len(seq.tokens) - seq.n_prompt >= max_new


def _to_sample(seq: _Live) -> Sample:
    return Sample(
        category="",
        heldout=False,
        tokens=seq.tokens,
        n_prompt=seq.n_prompt,
        top_ids=torch.stack(seq.ids),
        top_logp=torch.stack(seq.logp),
        sampled=seq.sampled,
    )


def save_shard(path: pathlib.Path, samples: Sequence[Sample]) -> None:
    """Write samples to one ``torch.save`` shard (written to a temp name, then renamed)."""
    body: list[dict[str, Any]] = [vars(s) for s in samples]
    tmp = path.with_suffix(".tmp")
    torch.save(body, tmp)
    tmp.replace(path)


def load_shards(folder: pathlib.Path) -> list[Sample]:
    """Read every ``shard-*.pt`` in ``folder``, in name order."""
    out: list[Sample] = []
    for p in sorted(folder.glob("shard-*.pt")):
        out.extend(Sample(**d) for d in torch.load(p, weights_only=True))
    return out
