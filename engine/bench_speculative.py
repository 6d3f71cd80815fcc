"""Speculative-decoding benchmark: tokens/s with speculation off and on, per drafter and task.

Runs the decode loop directly on the engine's step (`engine._step.step`),
single request, greedy, EOS ignored so every run emits the same number of
tokens; the greedy outputs of every configuration are
compared with plain decoding's (they must be identical). llama.cpp's plain
decode is measured in the same run when ``llama_cpp`` is importable.

Run ``python -m engine.bench_speculative [--json FILE]`` or ``agentkit bench speculative``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.bench import TASK_PROMPTS

__all__ = [
    "SPEC_TASKS",
    "SpecBench",
    "SpecRow",
    "auto_choice",
    "auto_factory",
    "run_speculative_bench",
]

_POLICY = (
    "Refund policy: Refunds are available within 30 days of purchase with a receipt. "
    "Refunds go back to the original payment method within 5 to 7 business days. "
    "Items marked final sale cannot be refunded. Shipping fees are not refundable unless the "
    "item arrived damaged. To request a refund, open Orders, choose the order, and select "
    "Request refund."
)

SPEC_TASKS: dict[str, list[dict[str, str]]] = {
    "customer_service": [
        {"role": "system", "content": f"You are a support agent. Answer from this policy, "
         f"quoting it where you can.\n\n{_POLICY}"},
        {"role": "user", "content": "I bought headphones 12 days ago and have the receipt. "
         "Can I get a refund, and how long will it take?"},
    ],
    "code_edit": TASK_PROMPTS["code_edit"],
    "open_chat": TASK_PROMPTS["open_chat"],
    "math": TASK_PROMPTS["math"],
}  # fmt: skip


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

    def to_json(self) -> dict[str, Any]:
        """The rows, llama.cpp's speeds, ``threads``, ``auto`` and ``rounds``, as JSON.

        ``auto`` says what ``draft="auto"`` (the default) resolves to here, and
        why; ``rounds`` is how many runs each reported speed is the median of.
        """
        return {
            "rows": [asdict(r) for r in self.rows],
            "llamacpp_tokens_per_s": self.llamacpp_tokens_per_s,
            "threads": self.threads,
            "auto": self.auto,
            "rounds": self.rounds,
        }


def _decode(
    engine: Any, ids: list[int], new_tokens: int, make_state: Callable[[], Any] | None
) -> tuple[list[int], float, Any]:
    """Greedy-decode ``new_tokens`` tokens; returns (tokens, decode seconds, stats or None).

    ``make_state`` builds the request's `SpecState` (None: plain decoding). Runs on
    the engine's compute thread, where its model was loaded (see `engine._compute`).
    """
    compute = getattr(engine, "compute", None)
    if compute is not None:
        engine.close()  # a running scheduler's driver holds the compute thread; it restarts on use
        return compute.call(lambda: _decode_here(engine, ids, new_tokens, make_state))  # type: ignore[no-any-return]
    return _decode_here(engine, ids, new_tokens, make_state)


def _decode_here(
    engine: Any, ids: list[int], new_tokens: int, make_state: Callable[[], Any] | None
) -> tuple[list[int], float, Any]:
    from engine._step import Decode, Prefill, step
    from engine._types import SamplingParams

    seq = engine.new_sequence(ids, SamplingParams(max_tokens=new_tokens))
    seq.stop_ids = frozenset()  # ignore EOS: every configuration emits the same count
    state = make_state() if make_state else None
    model, cache, max_len = engine.model, engine.cache, engine.max_seq_len
    try:
        step(model, cache, [Prefill(seq, 0, len(ids))], [], max_len)
        t0 = time.perf_counter()
        while seq.finish_reason is None:
            t1 = time.perf_counter()
            draft = state.propose(seq) if state is not None else []
            ((kept, accepted),) = step(model, cache, [], [Decode(seq, draft)], max_len)
            if state is not None:
                state.observe_alone(len(draft), kept, time.perf_counter() - t1)
                state.record(len(draft), accepted)
        return list(seq.output), time.perf_counter() - t0, state.stats() if state else None
    finally:
        engine.release(seq)
        for drafter in state.drafters if state else ():
            if hasattr(drafter, "close"):
                drafter.close()  # a draft model's cache slot


def _llamacpp_speeds(
    prompts: dict[str, list[int]], threads: int, new_tokens: int
) -> dict[str, float]:
    """llama.cpp's plain decode tokens/s per task, timed in its own process (see `engine._peer`)."""
    from engine._peer import llamacpp_available, run_llamacpp
    from engine.loader import default_model_path

    if not llamacpp_available():
        return {}
    rows = run_llamacpp(str(default_model_path()), prompts, threads, new_tokens)
    return {r["task"]: r["decode_tokens_per_s"] for r in rows}


def drafter_sets(engine: Any) -> dict[str, Callable[[], Any]]:
    """The drafter configurations to compare, by name: each builds a request's `SpecState`.

    Built on the engine's compute thread: loading a draft runs torch ops, and a
    parallel region on any other thread starts a second OpenMP team that slows
    every later step ~2.5x.
    """
    compute = getattr(engine, "compute", None)
    if compute is not None:
        return compute.call(lambda: _drafter_sets(engine))  # type: ignore[no-any-return]
    return _drafter_sets(engine)


def _drafter_sets(engine: Any) -> dict[str, Callable[[], Any]]:
    from engine._errors import ModelLoadError
    from engine.speculative import GammaController, NgramDrafter
    from engine.speculative._draft_io import default_draft_path
    from engine.speculative._factory import DrafterFactory, SpeculationSettings
    from engine.speculative._state import SpecState

    sets: dict[str, Callable[[], Any]] = {
        "ngram": lambda: SpecState((NgramDrafter(),), GammaController())
    }
    # the shipped draft by path: "auto" may leave it out where it cannot pay
    try:
        shipped = SpeculationSettings(draft=str(default_draft_path()))
        factory = DrafterFactory(engine.loaded, shipped, max_slots=2)
    except ModelLoadError:  # another target, or no draft shipped
        return sets
    if factory.mode.startswith("ngram+"):

        def model_only() -> Any:
            state = factory.new_state()
            assert state is not None  # speculation is enabled in these settings
            return SpecState(
                tuple(d for d in state.drafters if d.kind != "ngram"), state.controller
            )

        sets["distilled"] = model_only
        sets["mixed"] = factory.new_state  # n-gram first, the distilled draft otherwise
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

    Each task runs ``rounds`` rounds of every configuration in turn (plain
    decoding first) and reports, per configuration, the round of median time
    with its own statistics (the lower middle one for an even count): single
    runs of 128 tokens moved by ±15% on this shared machine, enough to flip a
    drafter from 1.1× to 0.83× plain decoding between two reports. ``exact``
    must hold in every round.
    """
    from engine._engine import Engine, physical_cores

    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    n_threads = threads or physical_cores()
    engine = Engine.load("default", threads=n_threads, max_seq_len=1024, max_slots=1)
    prompts = {t: engine.encode(engine.render_chat(SPEC_TASKS[t])) for t in tasks}
    configs: dict[str, Callable[[], Any] | None] = {"off": None, **drafter_sets(engine)}
    auto = auto_choice(engine)
    rows: list[SpecRow] = []
    llama = _llamacpp_speeds(prompts, n_threads, new_tokens) if with_llamacpp else {}
    for task, ids in prompts.items():
        _decode(engine, ids, 8, None)  # warm caches and the kernels' first call
        runs: dict[str, list[tuple[list[int], float, Any]]] = {name: [] for name in configs}
        for r in range(rounds):
            for name, make in configs.items():
                if progress:
                    progress(f"{task} · {name} · round {r + 1}/{rounds}")
                runs[name].append(_decode(engine, ids, new_tokens, make))
        plain = runs["off"][0][0]
        base = (len(plain) - 1) / sorted(s for _, s, _ in runs["off"])[(rounds - 1) // 2]
        for name, done in runs.items():
            # the median round, whole: its time and its statistics (the controller
            # judges speed by the clock, so acceptance can differ between rounds)
            out, secs, stats = sorted(done, key=lambda run: run[1])[(len(done) - 1) // 2]
            row = _row(task, name, out, plain, secs, stats, base, llama.get(task))
            exact = all(o == plain for o, _, _ in done)
            rows.append(dataclasses.replace(row, exact=exact))
    return SpecBench(rows, llama, n_threads, auto, rounds)


def auto_factory(engine: Any) -> Any:
    """The `DrafterFactory` that the default ``draft="auto"`` builds for ``engine``'s model."""
    from engine.speculative._factory import DrafterFactory, SpeculationSettings

    def build() -> Any:
        return DrafterFactory(engine.loaded, SpeculationSettings(draft="auto"), max_slots=1)

    compute = getattr(engine, "compute", None)
    return compute.call(build) if compute is not None else build()


def auto_choice(engine: Any) -> str:
    """What ``draft="auto"`` resolves to for ``engine``'s model, and why (one line)."""
    f = auto_factory(engine)
    return str(f.mode) + (f" ({f.auto_note})" if f.auto_note else "")


def _row(
    task: str,
    name: str,
    out: list[int],
    plain: list[int],
    secs: float,
    stats: Any,
    base: float,
    llama: float | None,
) -> SpecRow:
    n = len(out) - 1
    speed = n / secs if secs > 0 else 0.0
    steps = stats.target_steps if stats else n
    return SpecRow(
        task=task,
        drafter=name,
        tokens=n,
        tokens_per_s=speed,
        acceptance_rate=stats.acceptance_rate if stats else 0.0,
        mean_accepted_length=stats.mean_accepted_length if stats else 1.0,
        target_steps_per_token=steps / n if n else 1.0,
        speedup_vs_plain=speed / base if base else 0.0,
        speedup_vs_llamacpp=speed / llama if llama else None,
        exact=out == plain,
    )


if __name__ == "__main__":
    import json
    import sys

    bench = run_speculative_bench(progress=lambda s: sys.stderr.write(s + "\n"))
    json.dump(bench.to_json(), sys.stdout, indent=2)
