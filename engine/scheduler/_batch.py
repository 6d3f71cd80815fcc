"""One scheduler step: what it computes (`plan_step`) and running it (`run_step`).

A step is one ragged forward over every live row of every request (see
`engine._step` for the layout): the prompt chunks of requests still
prefilling, then, per decoding request, its last token followed by its draft
(γ may be 0: a plain row). The target's row-invariant kernels make each row's
logits equal to what that request alone would get, so batching, chunking and
speculation never change a token. The runner (`engine._runner.ModelRunner`:
the engine) executes the step; this module plans it, drafts, and keeps each
request's speculation statistics.

While a latency-sensitive ("urgent") request decodes, a step carries at most
``urgent_decode_rows`` decode rows (drafts included), handed out in urgency
order; a decoding request left out simply skips the step (its K/V and sampler
state are untouched), so capping changes when a token is computed, never which
token. Prompt chunks keep their own budget, so newcomers' first tokens do not
wait behind the cap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from engine._runner import ModelRunner
from engine._step import Decode, Prefill
from engine.kv_cache import KVCache
from engine.scheduler._config import SchedulerConfig
from engine.scheduler._request import Request

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


def run_step(runner: ModelRunner, plan: StepPlan) -> tuple[int, int]:
    """Run ``plan``: draft, then one step on the runner, then the requests' bookkeeping.

    A request decoding alone (no other row in the step) has the step timed,
    drafting included, for its speculation controller's speed check
    (`engine.speculative.GammaController`).

    Returns:
        (rows computed, rows whose output was thrown away: rejected drafts).
    """
    t0 = time.perf_counter()
    cache, max_len = runner.cache, runner.max_seq_len
    drafts = [_draft(r, plan.gamma, max_len, cache) for r in plan.decode]
    prefills: list[Prefill] = []
    for req, n in plan.prefill:
        assert req.seq is not None  # admitted requests have a sequence
        prefills.append(Prefill(req.seq, req.prefilled, n))
    decodes: list[Decode] = []
    for req, draft in zip(plan.decode, drafts, strict=True):
        assert req.seq is not None
        decodes.append(Decode(req.seq, draft))
    verified = runner.execute(prefills, decodes)
    seconds = time.perf_counter() - t0
    alone = not plan.prefill and len(plan.decode) == 1
    for req, n in plan.prefill:
        req.prefilled += n
    wasted = 0
    for req, draft, (kept, accepted) in zip(plan.decode, drafts, verified, strict=True):
        wasted += len(draft) + 1 - kept
        req.steps += 1
        if req.spec is not None:
            if alone:
                req.spec.observe_alone(len(draft), kept, seconds)
            req.spec.record(len(draft), accepted)
    rows = sum(n for _, n in plan.prefill) + sum(len(d) + 1 for d in drafts)
    return rows, wasted
