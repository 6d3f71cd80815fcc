"""The urgent cap: at most ``urgent_decode_rows`` decode rows a step while a short turn decodes.

Unit tests pin `plan_step`'s row accounting (cap respected, urgency order,
prompt chunks outside the cap, drafts only from decode rows left under it, no
change without an urgent request); the model tests check that skipping steps
never changes a token and that a long request still progresses under a
stream of short ones.
"""

from __future__ import annotations

import random
import time

import anyio
import pytest

from engine import GenerationResult, SamplingParams
from engine._runner import ModelRunner
from engine.model import Transformer
from engine.scheduler import SchedulerConfig
from engine.scheduler import _scheduler as scheduler_module
from engine.scheduler._batch import StepPlan, gamma_cap, plan_step
from engine.scheduler._request import Request
from tests.engine._sched_helpers import alone, collect, prompts, scheduler, tiny_engine, tiny_model

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Transformer:
    return tiny_model(tmp_path_factory.mktemp("m") / "m")


def _req(
    vd: float, left: int = 0, urgent: bool = False, priority: int = 0, prompt: int = 10
) -> Request:
    """A running request with ``left`` prompt tokens still to feed (0: decoding)."""
    r = Request(list(range(prompt + left)), SamplingParams(), None, priority, 0.0, vd)
    r.prefilled, r.urgent = prompt, urgent
    return r


def _legacy_plan(running: list[Request], config: SchedulerConfig, gamma_max: int) -> StepPlan:
    """`plan_step` as it was before the cap (the behaviour without an urgent request)."""
    budget = config.prefill_budget
    prefill: list[tuple[Request, int]] = []
    decode: list[Request] = []
    for req in sorted(running, key=lambda r: (-r.priority, r.virtual_deadline)):
        if req.cancelled or req.stop_reason is not None:
            continue
        left = len(req.ids) - req.prefilled
        if left > 0:
            n = min(left, config.prefill_chunk, budget)
            if n > 0:
                prefill.append((req, n))
                budget -= n
        else:
            decode.append(req)
    rows = sum(n for _, n in prefill)
    return StepPlan(prefill, decode, gamma_cap(config.row_budget, rows, len(decode), gamma_max))


def _random_running(rng: random.Random, urgent: bool) -> list[Request]:
    out = [
        _req(
            vd=rng.random(),
            left=rng.choice([0, 0, 0, rng.randrange(1, 200)]),
            urgent=urgent and rng.random() < 0.3,
            priority=rng.choice([0, 0, 0, 1]),
        )
        for _ in range(rng.randrange(1, 20))
    ]
    for r in out:
        r.cancelled = rng.random() < 0.05
    return out


def test_without_an_urgent_request_the_plan_is_unchanged() -> None:
    rng = random.Random(0)
    capped, off = SchedulerConfig(), SchedulerConfig(urgent_decode_rows=None)
    for _ in range(300):
        running = _random_running(rng, urgent=False)
        want = _legacy_plan(running, capped, 8)
        assert plan_step(running, capped, 8) == want
        # and with the cap switched off, urgent requests change nothing either
        for r in running:
            r.urgent = rng.random() < 0.5
        assert plan_step(running, off, 8) == _legacy_plan(running, off, 8)


def test_cap_is_respected_in_urgency_order() -> None:
    config = SchedulerConfig(urgent_decode_rows=8)
    running = [_req(vd=float(i), urgent=i == 5) for i in range(12)]
    running.append(_req(vd=99.0, priority=1))  # priority ranks before any virtual deadline
    random.Random(1).shuffle(running)
    plan = plan_step(running, config, gamma_max=8)
    assert plan.capped and plan.rows == 8 and plan.deferred == 5
    assert [r.virtual_deadline for r in plan.decode] == [99.0, 0, 1, 2, 3, 4, 5, 6]
    assert plan.gamma == 0  # no row left under the cap for drafts


def test_no_cap_when_the_urgent_request_would_not_get_a_row() -> None:
    # nine higher-priority decoders fill the 8 rows: capping would protect nobody
    config = SchedulerConfig(urgent_decode_rows=8)
    running = [_req(vd=float(i), priority=1) for i in range(9)]
    running.append(_req(vd=0.0, urgent=True))
    plan = plan_step(running, config, gamma_max=8)
    assert not plan.capped and len(plan.decode) == 10 and plan.deferred == 0
    assert not plan_step(running[1:], config, gamma_max=8).capped  # urgent is 9th of 9
    # two of them fewer and the urgent request makes the 8: the later long one waits
    later = _req(vd=5.0)
    plan = plan_step([*running[2:], later], config, gamma_max=8)
    assert plan.capped and running[-1] in plan.decode and later not in plan.decode
    assert plan.deferred == 1


def test_prompt_chunks_keep_their_budget_under_the_cap() -> None:
    # newcomers' first tokens must not wait behind the cap: only decode rows are capped
    config = SchedulerConfig(urgent_decode_rows=1, prefill_chunk=64, prefill_budget=128)
    short = _req(vd=0.0, urgent=True)
    newcomer = _req(vd=1.0, left=50)
    later = _req(vd=2.0, left=100)
    long = _req(vd=3.0)
    plan = plan_step([long, later, newcomer, short], config, gamma_max=8)
    assert plan.capped and plan.decode == [short]
    assert plan.prefill == [(newcomer, 50), (later, 64)]  # chunk 64, budget 128
    assert plan.deferred == 1 and plan.gamma == 0


def test_prefilling_urgent_request_does_not_cap() -> None:
    # the cap protects the pace of a decoding short turn; a prompt runs faster in big steps
    config = SchedulerConfig(urgent_decode_rows=4)
    running = [_req(vd=0.0, left=100, urgent=True)] + [_req(vd=1.0 + i) for i in range(10)]
    plan = plan_step(running, config, gamma_max=8)
    assert not plan.capped and plan.prefill[0][1] == 64 and len(plan.decode) == 10


def test_drafts_come_only_from_rows_left_under_the_cap() -> None:
    config = SchedulerConfig(urgent_decode_rows=8)
    alone_plan = plan_step([_req(vd=0.0, urgent=True)], config, gamma_max=8)
    assert alone_plan.gamma == 7  # 1 row + 7 drafts = the cap
    three = plan_step([_req(vd=float(i), urgent=True) for i in range(3)], config, gamma_max=8)
    assert three.gamma == 1  # 3 x (1 + 1) = 6 rows; 3 x 3 would be 9
    rng = random.Random(2)
    for _ in range(300):
        cap = rng.randrange(1, 24)
        cfg = SchedulerConfig(urgent_decode_rows=cap, row_budget=rng.randrange(1, 40))
        running = _random_running(rng, urgent=True)
        plan = plan_step(running, cfg, gamma_max=8)
        if plan.capped:
            assert len(plan.decode) * (1 + plan.gamma) <= cap
            assert len(plan.decode) == cap or plan.deferred == 0  # nobody skips below the cap
            assert sum(n for _, n in plan.prefill) <= cfg.prefill_budget
        else:
            assert plan.deferred == 0


def test_urgent_rule(tiny: Transformer) -> None:
    sched = scheduler(tiny_engine(tiny, slots=1), urgent_output_tokens=64)
    now = time.monotonic()

    def urgent(max_tokens: int, deadline: float | None = None) -> bool:
        req = Request([1, 2, 3], SamplingParams(max_tokens=max_tokens), deadline, 0, now)
        sched._rank(req)
        return req.urgent

    assert urgent(64) and not urgent(65)
    assert urgent(200, deadline=now + 2.0)  # tighter than its virtual deadline (+25.6 s)
    assert not urgent(200, deadline=now + 60.0)  # a loose deadline is not urgent
    sched.lengths.observe(256, 30)  # requests allowed 256 tokens have produced 30
    assert urgent(256)  # expected output, not the bound
    sched.close()


@pytest.mark.parametrize("speculation", [False, True])
@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_capped_batch_equals_alone(
    tiny: Transformer, speculation: bool, temperature: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    ps = prompts(8, seed=30 + int(temperature * 10) + speculation, lengths=(4, 50))
    params = [  # every other request is short (urgent), the others long
        SamplingParams(
            temperature=temperature, seed=i, max_tokens=6 if i % 2 else 40 + 4 * i, logprobs=True
        )
        for i in range(8)
    ]
    expected = [alone(tiny, p, sp) for p, sp in zip(ps, params, strict=True)]
    sched = scheduler(
        tiny_engine(tiny, slots=4),
        speculation,
        urgent_decode_rows=3,  # fewer rows than running requests: someone skips most steps
        urgent_output_tokens=8,
        prefill_chunk=8,
        prefix_cache=False,
    )
    rows_seen: list[tuple[bool, int]] = []  # (capped, decode rows with drafts)
    real_run_step = scheduler_module.run_step

    def recording(runner: ModelRunner, plan: StepPlan) -> tuple[int, int]:
        rows, wasted = real_run_step(runner, plan)
        rows_seen.append((plan.capped, rows - sum(n for _, n in plan.prefill)))
        return rows, wasted

    monkeypatch.setattr(scheduler_module, "run_step", recording)

    async def main() -> list[GenerationResult]:
        out: dict[int, GenerationResult] = {}

        async def one(i: int) -> None:
            res = (await collect(sched.submit(ps[i], params[i])))[-1]
            assert isinstance(res, GenerationResult)
            out[i] = res

        async with anyio.create_task_group() as tg:
            for i in range(len(ps)):
                tg.start_soon(one, i)
        return [out[i] for i in range(len(ps))]

    results = anyio.run(main)
    for res, (tokens, logprobs) in zip(results, expected, strict=True):
        assert res.token_ids == tokens
        assert res.logprobs == logprobs  # bit for bit
    st = sched.stats()
    assert st.capped_steps > 0 and st.deferred > 0
    assert all(rows <= 3 for capped, rows in rows_seen if capped)  # drafts included
    if speculation and temperature == 0:
        assert sum(r.speculative.drafted for r in results) > 0
    assert (st.running, st.free_slots) == (0, 4)
    sched.close()


def test_long_request_progresses_under_a_stream_of_short_ones(
    tiny: Transformer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one row a step, so the long request only moves when it is the most urgent. A tiny
    # slack per token makes its virtual deadline (fixed at arrival) beat those of short
    # turns arriving ~6 ms after it: with 0.003 s (~0.1 s) the tiny model sometimes
    # finished the long request in the gaps between short turns before aging could show
    sched = scheduler(
        tiny_engine(tiny, slots=3),
        urgent_decode_rows=1,
        urgent_output_tokens=8,
        slack_per_token_s=0.0002,
        prefix_cache=False,
        stats_every=0,
    )
    long_prompt, long_params = [5, 6, 7], SamplingParams(max_tokens=60)
    # per step in which a short (urgent) turn decodes: did the long request decode too?
    long_beside_short: list[bool] = []
    real_run_step = scheduler_module.run_step

    def recording(runner: ModelRunner, plan: StepPlan) -> tuple[int, int]:
        if any(r.urgent for r in plan.decode):
            long_beside_short.append(any(r.ids == long_prompt for r in plan.decode))
        return real_run_step(runner, plan)

    monkeypatch.setattr(scheduler_module, "run_step", recording)
    shorts = prompts(8, seed=40, lengths=(4, 10))
    finished: list[float] = []
    long_done: list[float] = []

    async def main() -> GenerationResult:
        async def stream_of_short_ones() -> None:
            i = 0
            while not long_done:  # two back-to-back clients keep a short turn decoding
                await collect(sched.submit(shorts[i % 8], SamplingParams(max_tokens=4)))
                finished.append(time.monotonic())
                i += 1

        async with anyio.create_task_group() as tg:
            tg.start_soon(stream_of_short_ones)
            tg.start_soon(stream_of_short_ones)
            with anyio.fail_after(60):
                res = (await collect(sched.submit(long_prompt, long_params)))[-1]
            long_done.append(time.monotonic())
        assert isinstance(res, GenerationResult)
        return res

    res = anyio.run(main)
    assert res.token_ids == alone(tiny, long_prompt, long_params)[0]
    assert sched.stats().deferred > 0  # the cap did hold the long request back
    # ...and aging let it through while short turns were decoding: without aging a
    # decoding short turn always ranks first, caps the step at its one row and the
    # long request could only move while no short turn decodes
    assert any(long_beside_short) and not all(long_beside_short)
    # short turns kept arriving and finishing the whole time the long one ran
    assert sum(t < long_done[0] for t in finished) >= 10
    sched.close()
