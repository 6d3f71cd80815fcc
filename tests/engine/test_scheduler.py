"""Continuous batching never changes a token, and admission control behaves.

The oracle is plain decoding of each request alone on its own cache: the
scheduler batches, chunks prompts and speculates, yet every request must
produce exactly the tokens (and log-probabilities) it produces alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import pytest

from engine import GenerationResult, SamplingParams, TextDelta
from engine.model import Transformer
from engine.scheduler import DeadlineError, QueueFullError
from tests.engine._sched_helpers import (
    MODEL_VARIANTS,
    alone,
    collect,
    prompts,
    scheduler,
    tiny_engine,
    tiny_model,
    tiny_variant,
    tokenizer,
    variant_id,
    wait_until,
)

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Transformer:
    return tiny_model(tmp_path_factory.mktemp("m") / "m")


@pytest.fixture(scope="module", params=MODEL_VARIANTS, ids=variant_id)
def tiny_any(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Transformer]:
    """The tiny model in fp32 and quantized on every kernel path (exactness per path)."""
    yield from tiny_variant(request, tmp_path_factory)


def _result(events: list[object]) -> GenerationResult:
    assert isinstance(events[-1], GenerationResult)
    return events[-1]


@pytest.mark.parametrize("speculation", [False, True])
@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_batched_equals_alone(tiny_any: Transformer, speculation: bool, temperature: float) -> None:
    ps = prompts(7, seed=int(temperature * 10) + speculation, lengths=(4, 60))
    params = [
        SamplingParams(temperature=temperature, seed=i, max_tokens=6 + 4 * i, logprobs=True)
        for i in range(7)
    ]
    expected = [alone(tiny_any, p, sp) for p, sp in zip(ps, params, strict=True)]
    engine = tiny_engine(tiny_any, slots=3)  # more requests than slots: some wait
    sched = scheduler(engine, speculation, prefill_chunk=8, prefill_budget=12, prefix_cache=False)

    async def main() -> list[list[object]]:
        out: list[list[object]] = [[] for _ in ps]

        async def one(i: int) -> None:
            out[i] = await collect(sched.submit(ps[i], params[i]))

        async with anyio.create_task_group() as tg:
            for i in range(len(ps)):
                tg.start_soon(one, i)
        return out

    results = anyio.run(main)
    for events, (tokens, logprobs) in zip(results, expected, strict=True):
        res = _result(events)
        assert res.token_ids == tokens
        assert res.logprobs == logprobs  # bit-identical logits, not just the same argmax
        streamed = [t for ev in events if isinstance(ev, TextDelta) for t in ev.token_ids]
        assert streamed == tokens  # every token streamed exactly once, in order
        assert res.text == "".join(ev.text for ev in events if isinstance(ev, TextDelta))
    spec = [_result(ev).speculative for ev in results]
    if speculation and temperature == 0:  # sampled text rarely repeats: nothing to look up
        assert sum(s.drafted for s in spec) > 0 and sum(s.accepted for s in spec) > 0
        assert any(s.target_steps < len(t) - 1 for s, (t, _) in zip(spec, expected, strict=True))
    elif not speculation:
        assert all(s.mode == "off" and s.drafted == 0 for s in spec)
    st = sched.stats()
    assert (st.running, st.waiting, st.free_slots) == (0, 0, 3)
    sched.close()


def test_join_mid_flight_and_chunked_prefill_interleaves(tiny: Transformer) -> None:
    engine = tiny_engine(tiny, slots=2)
    sched = scheduler(engine, prefill_chunk=4, prefill_budget=4, prefix_cache=False, stats_every=0)
    long_prompt = prompts(1, seed=5, lengths=(100, 101))[0]  # 25+ chunked prefill steps
    log: list[str] = []

    async def main() -> tuple[list[object], list[object]]:
        a = sched.submit([1, 2, 3], SamplingParams(max_tokens=120))
        b_events: list[object] = []
        a_events: list[object] = []

        async def run_b() -> None:
            async for ev in sched.submit(long_prompt, SamplingParams(max_tokens=5)):
                if isinstance(ev, TextDelta):
                    log.append("b")
                b_events.append(ev)

        async with anyio.create_task_group() as tg:
            async for ev in a:
                a_events.append(ev)
                if isinstance(ev, TextDelta):
                    log.append("a")
                if len(a_events) == 3:
                    tg.start_soon(run_b)  # joins while A runs
        return a_events, b_events

    a_events, b_events = anyio.run(main)
    assert _result(a_events).token_ids == alone(tiny, [1, 2, 3], SamplingParams(max_tokens=120))[0]
    assert _result(b_events).token_ids == alone(tiny, long_prompt, SamplingParams(max_tokens=5))[0]
    first_b = log.index("b")
    # A kept streaming while B's prompt was fed 4 tokens a step
    assert log[3:first_b].count("a") >= 15
    assert "a" in log[first_b:]  # and B finished while A still ran
    sched.close()


def test_deadline_rejected_at_admission(tiny: Transformer) -> None:
    sched = scheduler(tiny_engine(tiny, slots=1))
    with pytest.raises(DeadlineError):
        sched.submit([1, 2], deadline=time.monotonic() - 0.01)
    # observed service time says the queue ahead takes longer than the deadline allows
    sched.estimate.observe("request_s", 60.0)
    sched.estimate.observe("step_s", 0.01)
    engine = sched.engine

    async def main() -> None:
        with engine._lock:  # freeze the driver inside its first step
            busy = sched.submit([1, 2, 3], SamplingParams(max_tokens=50))
            await wait_until(lambda: sched.stats().running == 1)
            with pytest.raises(DeadlineError) as err:
                sched.submit([4, 5], deadline=time.monotonic() + 5.0)
            assert err.value.estimated_start_s >= 60.0
        assert _result(await collect(busy)).finish_reason == "length"

    anyio.run(main)
    sched.close()


def test_deadline_while_queued_and_mid_generation(tiny: Transformer) -> None:
    engine = tiny_engine(tiny, slots=1)
    sched = scheduler(engine, prefix_cache=False)

    async def main() -> None:
        running = sched.submit([1, 2, 3], SamplingParams(max_tokens=150), time.monotonic() + 0.5)
        first = await running.__anext__()
        assert isinstance(first, TextDelta)
        queued = sched.submit([7, 8], SamplingParams(max_tokens=4), time.monotonic() + 0.3)
        with engine._lock:  # the step in flight cannot end before both deadlines pass
            time.sleep(0.6)
        rest = await collect(running)
        res = _result(rest)
        assert res.finish_reason == "deadline"
        assert 1 <= res.completion_tokens < 150  # what it had
        want = alone(tiny, [1, 2, 3], SamplingParams(max_tokens=150))[0]
        assert res.token_ids == want[: res.completion_tokens]
        with pytest.raises(DeadlineError):
            await collect(queued)

    anyio.run(main)
    assert sched.stats().running == 0 and sched.stats().free_slots == 1
    sched.close()


def test_cancel_frees_the_slot_in_the_same_step(tiny: Transformer) -> None:
    engine = tiny_engine(tiny, slots=2)
    sched = scheduler(engine, prefix_cache=False, stats_every=0)

    async def main() -> None:
        a = sched.submit([1, 2, 3], SamplingParams(max_tokens=150))
        b = sched.submit([4, 5, 6], SamplingParams(max_tokens=150))
        await a.__anext__()
        await b.__anext__()
        with engine._lock:  # a step is (about to be) in flight
            steps = sched.stats().steps
            await a.aclose()  # type: ignore[attr-defined]
        await wait_until(lambda: sched.stats().running == 1)
        assert a.request.ended_step <= steps + 1  # type: ignore[attr-defined]
        assert sched.stats().free_slots == 1
        await b.aclose()  # type: ignore[attr-defined]
        await wait_until(lambda: sched.stats().running == 0)

    anyio.run(main)
    st = sched.stats()
    assert (st.running, st.waiting, st.free_slots) == (0, 0, 2)
    sched.close()
    assert sched._thread is None


def test_queue_full_is_a_typed_error(tiny: Transformer) -> None:
    engine = tiny_engine(tiny, slots=1)
    sched = scheduler(engine, max_queue=2, prefix_cache=False)

    async def main() -> None:
        accepted, refused = [], 0
        with engine._lock:  # nothing finishes while we submit
            for _ in range(4):
                try:
                    accepted.append(sched.submit([1, 2], SamplingParams(max_tokens=3)))
                except QueueFullError as exc:
                    assert exc.max_queue == 2
                    refused += 1
        assert refused >= 1 and len(accepted) <= 3
        for s in accepted:
            assert _result(await collect(s)).completion_tokens == 3

    anyio.run(main)
    sched.close()


def test_priority_then_short_then_long(tiny: Transformer) -> None:
    engine = tiny_engine(tiny, slots=1)
    sched = scheduler(engine, prefix_cache=False)
    order: list[str] = []

    async def main() -> None:
        async def run(name: str, stream: object) -> None:
            await collect(stream)
            order.append(name)

        with engine._lock:  # all of these wait behind the first
            first = sched.submit([1, 2], SamplingParams(max_tokens=5))
            await wait_until(lambda: sched.stats().running == 1)
            streams = {
                "long": sched.submit([3, 4], SamplingParams(max_tokens=120)),
                "short": sched.submit([5, 6], SamplingParams(max_tokens=4)),
                "urgent": sched.submit([9, 9], SamplingParams(max_tokens=120), priority=1),
            }
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, "first", first)
            for name, s in streams.items():
                tg.start_soon(run, name, s)

    anyio.run(main)
    assert order == ["first", "urgent", "short", "long"]
    sched.close()


def test_ignore_eos_is_honoured_on_the_scheduler_path() -> None:
    # The engine's own Sequence dropped EOS for ignore_eos; the scheduler's
    # Request built its stop ids without looking at it, so fixed-length
    # benchmark requests could end early at EOS.
    from engine.scheduler._request import Request

    eos = [7, 9]
    params = SamplingParams(max_tokens=4, ignore_eos=True, stop_token_ids=[3])
    req = Request(ids=[1, 2], params=params, deadline=None, priority=0, arrival=0.0)
    seq = req.new_sequence(0, tokenizer(), eos)
    assert seq.stop_ids == frozenset({3})
    plain = Request(
        ids=[1, 2], params=SamplingParams(max_tokens=4), deadline=None, priority=0, arrival=0.0
    )
    assert plain.new_sequence(0, tokenizer(), eos).stop_ids == frozenset(eos)


def test_a_request_decoding_alone_has_its_steps_timed(tiny: Transformer) -> None:
    # The speculation controller keeps drafting only while it beats plain decoding, which
    # it can judge only from timed steps of a request decoding alone (GammaController).
    # The scheduler's step is the one decode path, so it must time them; before, only a
    # parallel speculative step that production never ran did.
    sched = scheduler(tiny_engine(tiny, slots=2), speculation=True, prefix_cache=False)
    stream = sched.submit(prompts(1, seed=2, lengths=(30, 40))[0], SamplingParams(max_tokens=100))
    anyio.run(collect, stream)
    assert stream.request.spec is not None
    ctl = stream.request.spec.controller
    assert ctl.spec_steps > 0  # timed speculative steps (the first one is not counted)
    assert len(ctl.plain_seconds) == ctl.probe_steps  # and plain probes after the warm-up
    sched.close()
