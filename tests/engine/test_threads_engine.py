"""The engine under `ThreadGovernor`: adaptive by default, and the same tokens at any count."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import anyio
import pytest

from engine import Engine, EngineError, SamplingParams
from engine._threads import CpuSample, GovernorPolicy, ThreadGovernor, usable_cpus

QUESTIONS = [
    "What is the capital of France?",
    "Write a Python function that adds two numbers.",
    "My order #1234 has not arrived. What should I do?",
]


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    eng = Engine.load("default", threads=2, max_seq_len=256, max_slots=4)
    yield eng
    eng.close()


class Alternating:
    """Readings in which other processes keep 0, then 1, then 0... CPUs busy."""

    def __init__(self) -> None:
        self.n = 0
        self.busy = 0.0

    def read(self) -> CpuSample:
        self.n += 1
        self.busy += self.n % 2
        return CpuSample(self.busy, 0.0, float(self.n))


def _generate(eng: Engine) -> list[list[int]]:
    """Greedy and seeded-sampled answers to every question, all in flight at once."""
    jobs = [
        (eng.render_chat([{"role": "user", "content": q}]), p)
        for q in QUESTIONS
        for p in (
            SamplingParams(max_tokens=16),
            SamplingParams(max_tokens=16, temperature=0.9, top_p=0.95, seed=7),
        )
    ]
    out: dict[int, list[int]] = {}

    async def one(i: int) -> None:
        prompt, params = jobs[i]
        out[i] = (await eng.generate(prompt, params)).token_ids

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for i in range(len(jobs)):
                tg.start_soon(one, i)

    anyio.run(main)
    eng.close()  # the next run starts a new driver, which reads the thread settings again
    return [out[i] for i in range(len(jobs))]


def test_tokens_are_identical_with_1_and_2_threads_and_when_switching_every_step(
    engine: Engine,
) -> None:
    engine.governor = None
    two = _generate(engine)
    engine.threads = 1
    one = _generate(engine)
    engine.threads = 2
    gov = ThreadGovernor(2, GovernorPolicy(interval_s=0.0, persist=1), Alternating().read, 2)
    engine.governor = gov
    try:
        switching = _generate(engine)
    finally:
        engine.governor = None
    assert gov.changes >= 8  # 2, 1, 2, 1... between the steps of these generations
    assert one == two
    assert switching == two


def test_the_driver_reports_the_governors_count(engine: Engine) -> None:
    gov = ThreadGovernor(2, GovernorPolicy(interval_s=0.0, persist=1), Alternating().read, 2)
    engine.governor = gov
    try:
        params = SamplingParams(max_tokens=4, ignore_eos=True)
        anyio.run(engine.generate, [1, 2, 3], params)
        assert engine.scheduler.stats().threads == gov.threads
    finally:
        engine.close()
        engine.governor = None


def test_default_load_is_adaptive_and_an_explicit_count_is_fixed(engine: Engine) -> None:
    adaptive = Engine.load("default", max_seq_len=64, max_slots=1)
    assert adaptive.governor is not None
    assert adaptive.governor.max_threads == adaptive.threads
    with pytest.raises(EngineError, match="threads"):
        Engine.load("default", threads=-1)


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(usable_cpus()) < 2, reason="needs 2 CPUs"
)
def test_the_cli_and_the_engine_count_cores_the_same_under_pinning() -> None:
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "from agentkit.cli._common import default_threads;"
        "from engine._engine import physical_cores;"
        "print(default_threads(), physical_cores())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1"]
