"""`Engine.generate` / `Engine.stream` go through the scheduler and keep their contract."""

from __future__ import annotations

import anyio
import pytest

from engine import Engine, GenerationResult, SamplingParams, StatsEvent
from engine.model import Transformer
from engine.scheduler import QueueFullError, SchedulerConfig
from engine.speculative._factory import SpeculationSettings
from tests.engine._sched_helpers import alone, collect, prompts, tiny_model, wait_until

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Transformer:
    return tiny_model(tmp_path_factory.mktemp("m") / "m")


def _engine(tiny: Transformer, slots: int, **config: object) -> Engine:
    from tests.engine._sched_helpers import tiny_engine

    base = tiny_engine(tiny, slots)
    return Engine(
        base.loaded,
        base.cache,
        1,
        SpeculationSettings(draft="ngram"),
        SchedulerConfig(**config),  # type: ignore[arg-type]
    )


def test_concurrent_generate_equals_alone_with_speculation(tiny: Transformer) -> None:
    engine = _engine(tiny, slots=2)
    ps = prompts(4, seed=21)
    params = SamplingParams(max_tokens=16)

    async def main() -> list[GenerationResult]:
        out: dict[int, GenerationResult] = {}

        async def one(i: int) -> None:
            out[i] = await engine.generate(ps[i], params)

        async with anyio.create_task_group() as tg:
            for i in range(len(ps)):
                tg.start_soon(one, i)
        return [out[i] for i in range(len(ps))]

    results = anyio.run(main)
    assert [r.token_ids for r in results] == [alone(tiny, p, params)[0] for p in ps]
    assert any(r.speculative.drafted > 0 for r in results)  # speculation is on by default
    assert engine.cache.free_slots == 2
    engine.close()


def test_stream_stats_cancel_and_queue_bound(tiny: Transformer) -> None:
    engine = _engine(tiny, slots=1, max_queue=1, stats_every=2)

    async def main() -> None:
        stats = 0
        async for ev in engine.stream([1, 2, 3], SamplingParams(max_tokens=20)):
            stats += isinstance(ev, StatsEvent)
        assert stats >= 2
        with anyio.move_on_after(0.05):  # the consumer goes away mid-generation
            await engine.generate([1, 2, 3], SamplingParams(max_tokens=150))
        # The call returns at once (the caller's deadline comes first); the scheduler
        # frees the slot at the end of the step in flight.
        with anyio.fail_after(2):
            while engine.cache.free_slots != 1:
                await anyio.sleep(0.005)
        assert engine.scheduler.stats().running == 0
        ev = anyio.Event()
        ev.set()
        r = await engine.generate([1, 2, 3], SamplingParams(max_tokens=150), cancel=ev)
        assert r.finish_reason == "cancelled"
        with engine._lock:  # hold the driver: one runs, one waits, the next is refused
            a = engine.scheduler.submit([1, 2], SamplingParams(max_tokens=5))
            await wait_until(lambda: engine.scheduler.stats().running == 1)
            b = engine.scheduler.submit([3, 4], SamplingParams(max_tokens=5))
            with pytest.raises(QueueFullError):
                await engine.generate([5, 6], SamplingParams(max_tokens=5))
        for s in (a, b):
            res = (await collect(s))[-1]
            assert isinstance(res, GenerationResult) and res.completion_tokens == 5

    anyio.run(main)
    engine.close()
