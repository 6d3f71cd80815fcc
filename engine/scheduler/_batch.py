"""One scheduler step: every live row of every request in one ragged forward.

Rows are laid out as: the prompt chunks of requests still prefilling, then,
per decoding request, its last token followed by its draft (γ may be 0: a
plain row). The target's row-invariant kernels make each row's logits equal
to what that request alone would get, so batching, chunking and speculation
never change a token. Verification reuses the speculative step's own
`_verify` (accept while the target's choice equals the draft).

While a latency-sensitive ("urgent") request decodes, a step carries at most
``urgent_decode_rows`` decode rows (drafts included), handed out in urgency
order; a decoding request left out simply skips the step (its K/V and sampler
state are untouched), so capping changes when a token is computed, never which
token. Prompt chunks keep their own budget, so newcomers' first tokens do not
wait behind the cap.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch

from engine._sequence import accept_token
from engine.kv_cache import KVCache
from engine.model import Transformer
from engine.scheduler._config import SchedulerConfig
from engine.scheduler._request import Request
from engine.speculative._step import _verify

__all__ = ["StepPlan", "decode_row_cap", "gamma_cap", "plan_step", "run_step", "urgency"]


@dataclass(frozen=True)
class StepPlan:
    """What one step computes.

    Attributes:
        prefill: (request, prompt tokens to feed now) for requests still prefilling.
        decode: requests that decode (and maybe speculate) this step.
        gamma: the most tokens any request may draft this step.
        capped: planned under the urgent decode-row cap (`SchedulerConfig.urgent_decode_rows`).
        deferred: decoding requests the cap left without a row this step.
    """

    prefill: list[tuple[Request, int]]
    decode: list[Request]
    gamma: int
    capped: bool = False
    deferred: int = 0

    @property
    def empty(self) -> bool:
        """No rows at all."""
        return not self.prefill and not self.decode

    @property
    def rows(self) -> int:
        """Rows before drafts: prompt rows plus one per decoding request."""
        return sum(n for _, n in self.prefill) + len(self.decode)


def gamma_cap(row_budget: int, prefill_rows: int, decoding: int, gamma_max: int) -> int:
    """The batch's draft-length cap: spread the row budget over the decoding requests.

    Verifying γ drafted tokens is nearly free while a forward is bound by
    reading the weights; once the step's rows make it compute-bound, each
    extra row costs about as much as it can win. With ``R`` rows affordable per
    step and ``n`` decoding requests, each gets ``R // n - 1`` drafted rows.
    """
    if decoding == 0:
        return 0
    return max(0, min(gamma_max, (row_budget - prefill_rows) // decoding - 1))


def urgency(req: Request) -> tuple[int, float]:
    """Sort key, most urgent first: larger priority, then earlier virtual deadline."""
    return -req.priority, req.virtual_deadline


def decode_row_cap(decoding: list[Request], config: SchedulerConfig) -> int | None:
    """The step's decode-row cap, or None.

    ``decoding`` are the requests that have finished their prompt, in urgency
    order. The cap is on only when an urgent request is among the first
    ``urgent_decode_rows`` of them: the cap exists to shorten the wait between
    that request's tokens, and holding others back while it waits anyway
    would protect nobody.
    """
    cap = config.urgent_decode_rows
    if cap is None:
        return None
    return cap if any(r.urgent for r in decoding[:cap]) else None


def plan_step(running: list[Request], config: SchedulerConfig, gamma_max: int) -> StepPlan:
    """Which prompt chunks and which decoding requests the next step computes.

    Running requests are served in urgency order (priority, then virtual
    deadline): the prefill budget goes to the most urgent newcomers first, and
    every request that has finished its prompt decodes — except while an
    urgent request is among the first ``urgent_decode_rows`` decoding requests
    in that order (`decode_row_cap`): then only those get a row, the rest skip
    the step with their slot and K/V intact, and drafts come only from decode
    rows left under the cap. Priority is strict: a lower-priority request may
    wait as long as urgent work of a higher priority keeps arriving.

    Prompt chunks are not capped: a step of 8 decode rows costs ~2.3 one-row
    steps on 2 cores against ~4.3 for 16, and holding prompts back too made
    newcomers' p99 time to first token 5-7x worse in the benchmark
    (docs/scheduler.md, "Short turns under load").
    """
    live = sorted((r for r in running if not r.cancelled and r.stop_reason is None), key=urgency)
    cap = decode_row_cap([r for r in live if r.prefilled >= len(r.ids)], config)
    budget = config.prefill_budget
    prefill: list[tuple[Request, int]] = []
    decode: list[Request] = []
    deferred = 0
    for req in live:
        left = len(req.ids) - req.prefilled
        if left > 0:
            n = min(left, config.prefill_chunk, budget)
            if n > 0:
                prefill.append((req, n))
                budget -= n
        elif cap is None or len(decode) < cap:
            decode.append(req)
        else:
            deferred += 1
    rows = sum(n for _, n in prefill)
    gamma = gamma_cap(config.row_budget, rows, len(decode), gamma_max)
    if cap is not None:
        gamma = min(gamma, gamma_cap(cap, 0, len(decode), gamma_max))
    return StepPlan(prefill, decode, gamma, cap is not None, deferred)


def _draft(req: Request, cap: int, max_len: int, cache: KVCache) -> list[int]:
    state, seq = req.spec, req.seq
    if state is None or seq is None:
        return []
    # positions base..base+γ must fit the cache
    cap = min(cap, max_len - 1 - cache.lengths[seq.slot])
    if cap <= 0:
        return []
    # the controller's γ is its own adaptive state: the batch cap bounds this step only
    c = state.controller
    saved = c.gamma
    c.gamma = min(saved, cap)
    try:
        return state.propose(seq)
    finally:
        c.gamma = saved


def _finishing_rows(plan: StepPlan) -> list[int]:
    """Rows (in the step's layout) of the last prompt token of each prompt this step completes."""
    rows: list[int] = []
    end = 0
    for req, n in plan.prefill:
        end += n
        if req.prefilled + n == len(req.ids):
            rows.append(end - 1)
    return rows


def run_step(
    model: Transformer, cache: KVCache, plan: StepPlan, max_len: int, lock: threading.Lock
) -> tuple[int, int]:
    """Run ``plan``: one forward, then prompt bookkeeping and verification.

    Returns:
        (rows computed, rows whose output was thrown away: rejected drafts).
    """
    drafts = [_draft(r, plan.gamma, max_len, cache) for r in plan.decode]
    tokens: list[int] = []
    slots: list[int] = []
    positions: list[int] = []
    for req, n in plan.prefill:
        assert req.seq is not None  # admitted requests have a sequence
        start = req.prefilled
        tokens += req.ids[start : start + n]
        slots += [req.seq.slot] * n
        positions += range(start, start + n)
    starts: list[int] = []
    for req, draft in zip(plan.decode, drafts, strict=True):
        assert req.seq is not None
        base = cache.lengths[req.seq.slot]
        starts.append(len(tokens))
        tokens += [req.seq.output[-1], *draft]
        slots += [req.seq.slot] * (len(draft) + 1)
        positions += range(base, base + len(draft) + 1)
    # logits only where they are read: each finished prompt's last row, every decode row
    finishing = _finishing_rows(plan)
    decode_from = starts[0] if starts else len(tokens)
    need = finishing + list(range(decode_from, len(tokens)))
    t = torch.tensor
    with lock:
        logits = model.forward(
            t(tokens, dtype=torch.long),
            t(slots, dtype=torch.long),
            t(positions, dtype=torch.long),
            cache,
            t(need, dtype=torch.long),
        )  # (len(need), V)
    done = 0
    for req, n in plan.prefill:
        assert req.seq is not None
        req.prefilled += n
        cache.lengths[req.seq.slot] = req.prefilled
        if req.prefilled == len(req.ids):
            accept_token(req.seq, logits[done], max_len)
            done += 1
    wasted = 0
    for req, draft, start in zip(plan.decode, drafts, starts, strict=True):
        assert req.seq is not None
        first = len(finishing) + start - decode_from
        kept, accepted = _verify(req.seq, logits[first : first + len(draft) + 1], draft, max_len)
        cache.lengths[req.seq.slot] += kept
        wasted += len(draft) + 1 - kept
        req.steps += 1
        if req.spec is not None:
            req.spec.target_steps += 1
            if draft:
                req.spec.drafted += len(draft)
                req.spec.accepted += accepted
                req.spec.controller.update(len(draft), accepted)
    return len(tokens), wasted
