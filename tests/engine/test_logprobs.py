"""Per-token log-probabilities (``SamplingParams.top_logprobs``): computed on the step path.

They are of the raw distribution at each generated token, with the top-k
alternatives; the invariants hold for them as for the tokens: speculative ==
plain, batched == alone, a prefix-cache hit == a fresh prefill, bit for bit.
"""

from __future__ import annotations

import math

import anyio
import pytest
import torch

from engine import GenerationResult, SamplingParams, TextDelta, TokenLogprob
from engine._errors import InvalidSamplingError
from engine._sequence import Sequence
from engine._step import Decode, Prefill, step
from engine.kv_cache import KVCache
from engine.model import Transformer
from engine.sampling import token_logprob
from tests.engine._sched_helpers import (
    MAX_LEN,
    collect,
    prompts,
    scheduler,
    tiny_engine,
    tiny_model,
    tokenizer,
)

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Transformer:
    return tiny_model(tmp_path_factory.mktemp("m") / "m")


def _alone(model: Transformer, prompt: list[int], params: SamplingParams) -> Sequence:
    """Plain decoding on its own cache, one token a step: the oracle."""
    cfg = model.config
    cache = KVCache(cfg.n_layers, 1, cfg.n_kv_heads, MAX_LEN, cfg.head_dim)
    seq = Sequence.start(0, prompt, params, tokenizer(), eos_ids=())
    step(model, cache, [Prefill(seq, 0, len(prompt))], [], MAX_LEN)
    while seq.finish_reason is None:
        step(model, cache, [], [Decode(seq, [])], MAX_LEN)
    return seq


def _run(sched: object, ps: list[list[int]], params: list[SamplingParams]) -> list[list[object]]:
    async def main() -> list[list[object]]:
        out: list[list[object]] = [[] for _ in ps]

        async def one(i: int) -> None:
            out[i] = await collect(sched.submit(ps[i], params[i]))  # type: ignore[attr-defined]

        async with anyio.create_task_group() as tg:
            for i in range(len(ps)):
                tg.start_soon(one, i)
        return out

    return anyio.run(main)


def test_token_logprob_is_the_raw_log_softmax_with_its_top_k() -> None:
    logits = torch.tensor([0.5, 3.0, -1.0, 2.0, 3.0 - 1e-3])
    ref = torch.log_softmax(logits.double(), -1)
    entry = token_logprob(logits, 3, 3)
    assert entry.token_id == 3 and math.isclose(entry.logprob, ref[3], abs_tol=1e-6)
    assert [t for t, _ in entry.top] == [1, 4, 3]  # most likely first
    assert all(math.isclose(lp, ref[t], abs_tol=1e-6) for t, lp in entry.top)
    assert entry.top[2][1] == entry.logprob  # the same number, not merely close
    chosen_only = token_logprob(logits, 0, 0)
    assert chosen_only == TokenLogprob(0, float(logits[0] - torch.logsumexp(logits, -1)))
    masked = logits.clone()
    masked[1] = float("-inf")  # what a JSON-schema mask does: renormalised over the rest
    assert token_logprob(masked, 4, 5).top[-1] == (1, float("-inf"))


@pytest.mark.parametrize("top", [None, 0, 5])
def test_step_path_reports_each_token_and_nothing_unasked(
    tiny: Transformer, top: int | None
) -> None:
    [prompt] = prompts(1, seed=3)
    seq = _alone(tiny, prompt, SamplingParams(max_tokens=12, top_logprobs=top))
    if top is None:
        assert seq.token_logprobs == []  # no top-k pass for requests that do not ask
        return
    assert [e.token_id for e in seq.token_logprobs] == seq.output
    assert [e.logprob for e in seq.token_logprobs] == seq.logprobs
    for e in seq.token_logprobs:
        assert e.logprob <= 0 and len(e.top) == top
        if top:  # greedy: the chosen token is the most likely, with the same number
            assert e.top[0] == (e.token_id, e.logprob)
            assert [lp for _, lp in e.top] == sorted((lp for _, lp in e.top), reverse=True)


def test_a_stop_id_has_no_entry_and_the_last_delta_carries_the_rest(tiny: Transformer) -> None:
    [prompt] = prompts(1, seed=5)
    free = _alone(tiny, prompt, SamplingParams(max_tokens=8, top_logprobs=2)).output
    params = SamplingParams(max_tokens=8, top_logprobs=2, stop_token_ids=(free[4],))
    sched = scheduler(tiny_engine(tiny, slots=1))
    [events] = _run(sched, [prompt], [params])
    res = events[-1]
    assert isinstance(res, GenerationResult) and res.token_logprobs is not None
    stop_at = free.index(free[4])
    assert res.token_ids == free[: stop_at + 1]  # the stop id is generated...
    assert [e.token_id for e in res.token_logprobs] == free[:stop_at]  # ...but has no entry
    deltas = [ev for ev in events if isinstance(ev, TextDelta)]
    assert [e for d in deltas for e in d.logprobs or ()] == res.token_logprobs
    for d in deltas:
        assert d.logprobs is not None and [e.token_id for e in d.logprobs] == [
            t for t in d.token_ids if t != free[4]
        ]
    sched.close()


@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_speculative_batched_and_cached_equal_plain(tiny: Transformer, temperature: float) -> None:
    """With n-gram drafts accepted, the reported logprobs are the target's, as plain decoding's."""
    ps = prompts(5, seed=11, lengths=(20, 60))
    ps.append(list(ps[0]))  # the same prompt again: a prefix-cache hit or a live copy
    params = [
        SamplingParams(temperature=temperature, seed=i, max_tokens=24, top_logprobs=3)
        for i in range(len(ps))
    ]
    expected = [_alone(tiny, p, sp).token_logprobs for p, sp in zip(ps, params, strict=True)]
    sched = scheduler(tiny_engine(tiny, slots=3), speculation=True, prefill_chunk=8)
    results = _run(sched, ps, params)
    spec = [ev[-1].speculative for ev in results]  # type: ignore[attr-defined]
    for events, want in zip(results, expected, strict=True):
        res = events[-1]
        assert isinstance(res, GenerationResult)
        assert res.token_logprobs == want  # bit for bit, alternatives included
        streamed = [e for ev in events if isinstance(ev, TextDelta) for e in ev.logprobs or ()]
        assert streamed == want
    if temperature == 0:
        assert sum(s.accepted for s in spec) > 0  # drafts were accepted: speculation ran
    sched.close()


def test_top_logprobs_is_validated() -> None:
    for bad in (-1, 21, True, 2.0):
        with pytest.raises(InvalidSamplingError) as info:
            SamplingParams(top_logprobs=bad)  # type: ignore[arg-type]
        assert info.value.field == "top_logprobs"
    assert SamplingParams(top_logprobs=20).top_logprobs == 20
