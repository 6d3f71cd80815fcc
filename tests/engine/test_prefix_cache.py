"""Prefix cache: a hit reproduces a fresh prefill exactly; LRU eviction under the caps."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
import torch

from engine import GenerationResult, SamplingParams
from engine.kv_cache import KVCache
from engine.model import Transformer
from engine.scheduler import PrefixCache
from tests.engine._sched_helpers import (
    MODEL_VARIANTS,
    alone,
    collect,
    prompts,
    scheduler,
    tiny_engine,
    tiny_variant,
    variant_id,
)

pytest.importorskip("transformers")


@pytest.fixture(scope="module", params=MODEL_VARIANTS, ids=variant_id)
def tiny(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Transformer]:
    """The tiny model in fp32 and quantized on every kernel path (exactness per path)."""
    yield from tiny_variant(request, tmp_path_factory)


def _run(sched: object, prompt: list[int], params: SamplingParams) -> GenerationResult:
    events = anyio.run(collect, sched.submit(prompt, params))  # type: ignore[attr-defined]
    assert isinstance(events[-1], GenerationResult)
    return events[-1]


def test_next_turn_reuses_the_conversation_and_equals_a_fresh_prefill(tiny: Transformer) -> None:
    sched = scheduler(tiny_engine(tiny, slots=2), prefill_chunk=16)
    params = SamplingParams(max_tokens=12, logprobs=True)
    p1 = prompts(1, seed=11, lengths=(40, 41))[0]
    first = _run(sched, p1, params)
    p2 = p1 + first.token_ids + [5, 6, 7]  # the next turn continues the conversation
    second = _run(sched, p2, params)
    tokens, logprobs = alone(tiny, p2, params)
    assert second.token_ids == tokens
    assert second.logprobs == logprobs  # bit-identical: same kernels, same positions
    st = sched.stats().prefix
    assert st is not None
    assert (st.lookups, st.hits) == (2, 1)
    assert st.tokens_saved == len(p1) + len(first.token_ids) - 1  # all but the unfed last token
    assert st.entries == 1  # the slot was taken over in place and parked again
    assert st.hit_rate == pytest.approx(0.5)
    sched.close()


def test_shared_system_prompt_is_copied_and_equals_a_fresh_prefill(tiny: Transformer) -> None:
    sched = scheduler(tiny_engine(tiny, slots=3), prefill_chunk=16)
    params = SamplingParams(max_tokens=8, temperature=0.7, seed=3, logprobs=True)
    system = prompts(1, seed=12, lengths=(48, 49))[0][:48]
    a, b = [*system, 1, 2, 3], [*system, 9, 8]
    _run(sched, a, params)
    res = _run(sched, b, params)
    assert (res.token_ids, res.logprobs) == alone(tiny, b, params)
    st = sched.stats().prefix
    assert st is not None
    assert st.hits == 1 and st.tokens_saved == 48
    assert st.entries == 2  # a's entry was copied from, not consumed
    sched.close()


def _cache(slots: int) -> KVCache:
    return KVCache(1, slots, 1, 64, 4)


def _park(pc: PrefixCache, tokens: list[int]) -> int:
    slot = pc.cache.allocate()
    pc.cache.lengths[slot] = len(tokens)
    pc.cache.k[:, slot, :, : len(tokens)] = torch.tensor(tokens, dtype=torch.float32)[:, None]
    pc.park(slot, tokens)
    return slot


def test_lru_eviction_under_the_entry_cap() -> None:
    pc = PrefixCache(_cache(4), block=4, max_entries=2)
    a, b, c = [1] * 8 + [2], [3] * 8 + [4], [5] * 8 + [6]
    sa = _park(pc, a)
    _park(pc, b)
    hit = pc.lookup([*a, 7])
    assert hit is not None and hit.slot == sa and hit.matched == len(a) and hit.whole
    dst = pc.cache.allocate()
    pc.copy_prefix(sa, dst, hit.matched)  # using a makes b the least recently used
    assert torch.equal(pc.cache.k[:, dst, :, :9], pc.cache.k[:, sa, :, :9])
    pc.cache.free(dst)
    _park(pc, c)
    assert pc.lookup([*b, 1]) is None and pc.lookup([*a, 1]) is not None
    assert pc.stats().evictions == 1 and len(pc) == 2
    assert pc.cache.free_slots == 4  # parked slots still count as free


def test_token_cap_and_prefix_entries() -> None:
    pc = PrefixCache(_cache(4), block=4, max_tokens=30)
    _park(pc, list(range(20)))
    _park(pc, list(range(100, 120)))  # 40 tokens > 30: the older entry goes
    assert pc.lookup(list(range(21))) is None and pc.cached_tokens == 20
    _park(pc, list(range(100, 110)))  # a prefix of a kept entry adds nothing
    assert len(pc) == 1 and pc.cache.free_slots == 4
    hit = pc.lookup([*range(100, 107), 0, 0])
    assert hit is not None and hit.matched == 7 and not hit.whole  # exact, not block-rounded
    assert pc.lookup([100, 101, 102, 0, 104]) is None  # no whole block in common


def test_parked_slots_are_allocated_last_and_forgotten_when_taken() -> None:
    pc = PrefixCache(_cache(3), block=4)
    a = _park(pc, [1] * 8)
    assert pc.cache.free_slots == 3
    first, second = pc.cache.allocate(), pc.cache.allocate()
    assert a not in (first, second)  # never-parked slots go first
    assert pc.cache.allocate() == a  # then the parked one
    assert pc.lookup([1] * 9) is None  # allocated behind the cache's back: stale, dropped
    assert len(pc) == 0


def test_concurrent_requests_share_a_prefix_being_prefilled(tiny: Transformer) -> None:
    sched = scheduler(tiny_engine(tiny, slots=3), prefill_chunk=8, prefill_budget=16)
    params = SamplingParams(max_tokens=6, logprobs=True)
    system = prompts(1, seed=13, lengths=(48, 49))[0][:48]
    ps = [[*system, 1, 2], [*system, 3], [*system, 4, 5, 6]]

    async def main() -> list[list[object]]:
        out: list[list[object]] = [[], [], []]

        async def one(i: int) -> None:
            out[i] = await collect(sched.submit(ps[i], params))

        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(one, i)
        return out

    for p, events in zip(ps, anyio.run(main), strict=True):
        res = events[-1]
        assert isinstance(res, GenerationResult)
        assert (res.token_ids, res.logprobs) == alone(tiny, p, params)
    st = sched.stats().prefix
    assert st is not None
    assert st.hits == 2 and st.tokens_saved == 2 * 48  # the later two copied the first's prompt
    sched.close()


def test_stop_ends_with_a_result(tiny: Transformer) -> None:
    sched = scheduler(tiny_engine(tiny, slots=1))
    stop = anyio.Event()

    async def main() -> GenerationResult:
        events = []
        async for ev in sched.submit([1, 2, 3], SamplingParams(max_tokens=150), stop_on=stop):
            events.append(ev)
            if len(events) == 3:
                stop.set()
        assert isinstance(events[-1], GenerationResult)
        return events[-1]

    res = anyio.run(main)
    assert res.finish_reason == "cancelled" and 3 <= res.completion_tokens < 150
    assert sched.stats().running == 0
    sched.close()
