"""Speculative-decoding benchmark: tokens/s with speculation off and on, per drafter and task.

Each configuration decodes through the scheduler, as `Engine.generate` does
(`engine.bench.timing.generate_with`): a single request, greedy, EOS ignored
so every run emits the same number of tokens; the outputs of every
configuration are compared with plain decoding's (they must be identical).
The drafters: ``ngram`` (lookup), ``distilled`` (the shipped draft model
alone) and ``mixed`` (lookup first, then the draft), the latter two only
where the shipped draft fits the target. llama.cpp's plain decode is measured
in the same run when ``llama_cpp`` is importable, once per round before our
configurations (alternated rounds, `engine.bench._rounds`): the "× llama.cpp"
column divides our median round by llama.cpp's median round, and
``llamacpp_rounds`` keeps each of its rounds.

Run ``python -m engine.bench.speculative`` or ``agentkit bench speculative``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from engine import kernels
from engine._engine import Engine
from engine._errors import ModelLoadError
from engine._threads import physical_cores
from engine._types import SpeculativeStats
from engine.bench._peer import llamacpp_available, run_llamacpp
from engine.bench.tasks import SPEC_TASKS
from engine.bench.timing import TimedRun, generate_with
from engine.loader import default_model_path
from engine.speculative._draft_io import default_draft_path
from engine.speculative._factory import DrafterFactory, SpeculationSettings
from engine.speculative._state import SpecState

__all__ = [
    "SpecBench",
    "SpecRow",
    "auto_choice",
    "auto_factory",
    "drafter_sets",
    "run_speculative_bench",
]


@dataclass(frozen=True)
class SpecRow:
    """One task × drafter configuration.

    Attributes:
        task, drafter: what ran (drafter "off" is plain decoding).
        tokens: tokens emitted after the first.
        tokens_per_s: decode speed (after the first token).
        acceptance_rate: α = accepted / drafted.
        mean_accepted_length: tokens per target forward = 1 + accepted / target_steps.
        target_steps_per_token: target forward passes per emitted token.
        speedup_vs_plain: tokens_per_s over this task's plain decode.
        speedup_vs_llamacpp: tokens_per_s over llama.cpp's plain decode of the task.
        exact: the output equals plain greedy decoding's, token for token.
    """

    task: str
    drafter: str
    tokens: int
    tokens_per_s: float
    acceptance_rate: float
    mean_accepted_length: float
    target_steps_per_token: float
    speedup_vs_plain: float
    speedup_vs_llamacpp: float | None
    exact: bool


@dataclass(frozen=True)
class SpecBench:
    """All rows, plus llama.cpp's plain decode speed per task."""

    rows: list[SpecRow] = field(default_factory=list)
    llamacpp_tokens_per_s: dict[str, float] = field(default_factory=dict)
    threads: int = 0
    auto: str = ""
    rounds: int = 1
    llamacpp_rounds: dict[str, list[float]] = field(default_factory=dict)
    kernel_path: str = ""

    def to_json(self) -> dict[str, Any]:
        """The rows, llama.cpp's speeds, ``threads``, ``auto`` and ``rounds``, as JSON.

        ``auto`` says what ``draft="auto"`` (the default) resolves to here, and
        why; ``rounds`` is how many runs each reported speed is the median of;
        ``llamacpp_rounds`` has llama.cpp's speed in each round, per task;
        ``kernel_path`` the instruction-set path our kernels ran on (``AGENTKIT_KERNELS``).
        """
        return {
            "rows": [asdict(r) for r in self.rows],
            "llamacpp_tokens_per_s": self.llamacpp_tokens_per_s,
            "threads": self.threads,
            "auto": self.auto,
            "rounds": self.rounds,
            "llamacpp_rounds": self.llamacpp_rounds,
            "kernel_path": self.kernel_path,
        }


def _llamacpp_speeds(
    prompts: dict[str, list[int]], threads: int, new_tokens: int
) -> dict[str, float]:
    """llama.cpp's plain decode tokens/s per task, in its own process (`engine.bench._peer`)."""
    if not llamacpp_available():
        return {}
    rows = run_llamacpp(str(default_model_path()), prompts, threads, new_tokens)["rows"]
    return {r["task"]: r["decode_tokens_per_s"] for r in rows}


class _DraftOnly(DrafterFactory):
    """The shipped draft model without n-gram lookup in front of it."""

    def new_state(self) -> SpecState | None:
        """The factory's state with the n-gram drafter left out."""
        state = super().new_state()
        if state is None:
            return None
        return SpecState(tuple(d for d in state.drafters if d.kind != "ngram"), state.controller)


def drafter_sets(engine: Engine) -> dict[str, DrafterFactory]:
    """The drafter configurations to compare, by name.

    Built on the engine's compute thread: loading a draft runs torch ops, and a
    parallel region on any other thread starts a second OpenMP team that slows
    every later step ~2.5x.
    """
    compute = engine.compute
    return compute.call(lambda: _drafter_sets(engine)) if compute else _drafter_sets(engine)


def _drafter_sets(engine: Engine) -> dict[str, DrafterFactory]:
    sets = {"ngram": DrafterFactory(engine.loaded, SpeculationSettings(draft="ngram"), 1)}
    # the shipped draft by path: "auto" may leave it out where it cannot pay
    shipped = SpeculationSettings(draft=str(default_draft_path()))
    try:
        mixed = DrafterFactory(engine.loaded, shipped, max_slots=1)
    except ModelLoadError:  # another target, or no draft shipped
        return sets
    if mixed.mode.startswith("ngram+"):
        sets["distilled"] = _DraftOnly(engine.loaded, shipped, max_slots=1)
        sets["mixed"] = mixed  # n-gram first, the distilled draft otherwise
    return sets


def run_speculative_bench(
    *,
    threads: int | None = None,
    new_tokens: int = 128,
    tasks: tuple[str, ...] = tuple(SPEC_TASKS),
    with_llamacpp: bool = True,
    progress: Callable[[str], object] | None = None,
    rounds: int = 3,
) -> SpecBench:
    """Measure every drafter configuration on every task (see the module docstring).

    Each of ``rounds`` rounds runs llama.cpp's plain decode of every task (when
    available), then every task in every configuration in turn (plain decoding
    first); each configuration reports the round of median time
    with its own statistics (the lower middle one for an even count): single
    runs of 128 tokens moved by ±15% on this shared machine, enough to flip a
    drafter from 1.1× to 0.83× plain decoding between two reports. ``exact``
    must hold in every round.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    n_threads = threads or physical_cores()
    engine = Engine.load("default", threads=n_threads, max_seq_len=1024, max_slots=1)
    try:
        prompts = {t: engine.encode(engine.render_chat(SPEC_TASKS[t])) for t in tasks}
        configs: dict[str, DrafterFactory | None] = {"off": None, **drafter_sets(engine)}
        auto = auto_choice(engine)
        for ids in prompts.values():
            generate_with(engine, ids, 8, None)  # warm caches and the kernels' first call
        runs: dict[str, dict[str, list[TimedRun]]] = {t: {n: [] for n in configs} for t in prompts}
        peer: dict[str, list[float]] = {}
        for r in range(rounds):
            if with_llamacpp:  # llama.cpp first in each round, then ours: alternated
                for task, speed in _llamacpp_speeds(prompts, n_threads, new_tokens).items():
                    peer.setdefault(task, []).append(speed)
            for task, ids in prompts.items():
                for name, drafters in configs.items():
                    if progress:
                        progress(f"{task} · {name} · round {r + 1}/{rounds}")
                    runs[task][name].append(generate_with(engine, ids, new_tokens, drafters))
    finally:
        engine.close()
    llama = {task: _median_round(speeds) for task, speeds in peer.items()}
    rows = [row for task in prompts for row in _task_rows(task, runs[task], llama.get(task))]
    return SpecBench(rows, llama, n_threads, auto, rounds, peer, kernels.kernel_path())


def _median_round(speeds: list[float]) -> float:
    """The speed of the round of median time, the lower middle one (the faster) for an even count.

    The same round `_task_rows` picks for our configurations, so the column's ratio compares like
    with like.
    """
    return sorted(speeds, reverse=True)[(len(speeds) - 1) // 2]


def _task_rows(task: str, runs: dict[str, list[TimedRun]], llama: float | None) -> list[SpecRow]:
    """One row per configuration: its median round, whole (time and statistics).

    The controller judges speed by the clock, so acceptance can differ between
    rounds; ``exact`` must hold in every round.
    """
    plain = runs["off"][0].tokens
    median = (len(runs["off"]) - 1) // 2  # the lower middle one for an even count
    base = (len(plain) - 1) / sorted(r.decode_s for r in runs["off"])[median]
    rows = []
    for name, done in runs.items():
        run = sorted(done, key=lambda r: r.decode_s)[(len(done) - 1) // 2]
        row = _row(task, name, run, plain, base, llama)
        rows.append(dataclasses.replace(row, exact=all(r.tokens == plain for r in done)))
    return rows


def auto_factory(engine: Engine) -> DrafterFactory:
    """The `DrafterFactory` that the default ``draft="auto"`` builds for ``engine``'s model."""

    def build() -> DrafterFactory:
        return DrafterFactory(engine.loaded, SpeculationSettings(draft="auto"), max_slots=1)

    return engine.compute.call(build) if engine.compute is not None else build()


def auto_choice(engine: Engine) -> str:
    """What ``draft="auto"`` resolves to for ``engine``'s model, and why (one line)."""
    f = auto_factory(engine)
    return str(f.mode) + (f" ({f.auto_note})" if f.auto_note else "")


def _row(
    task: str,
    name: str,
    run: TimedRun,
    plain: list[int],
    base: float,
    llama: float | None,
) -> SpecRow:
    n = len(run.tokens) - 1
    speed = n / run.decode_s if run.decode_s > 0 else 0.0
    stats: SpeculativeStats = run.speculative
    return SpecRow(
        task=task,
        drafter=name,
        tokens=n,
        tokens_per_s=speed,
        acceptance_rate=stats.acceptance_rate,
        mean_accepted_length=stats.mean_accepted_length,
        target_steps_per_token=stats.target_steps / n if n else 1.0,
        speedup_vs_plain=speed / base if base else 0.0,
        speedup_vs_llamacpp=speed / llama if llama else None,
        exact=run.tokens == plain,
    )


if __name__ == "__main__":
    import json
    import sys

    bench = run_speculative_bench(progress=lambda s: sys.stderr.write(s + "\n"))
    json.dump(bench.to_json(), sys.stdout, indent=2)
