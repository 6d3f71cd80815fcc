"""Decode benchmark: our engine vs llama.cpp (when ``llama_cpp`` is importable).

Ours is timed as users run it: ``Engine.generate`` (the scheduler, one request,
speculation off, no prefix cache so that every run prefills its prompt), with
the times the engine reports in its result. Each engine runs in a fresh child
process of its own (two runtimes in one process compete for the cores; see
`engine.bench._peer`), on the same prompt token ids, the same greedy settings
and the same thread count, both warmed up on each prompt first. Tasks: the
four of `TASK_PROMPTS` (their summed decode rates give
``ratio_decode_vs_llamacpp``) and ``long_prompt``, a ~500-token grounded
prompt for time to first token (``ratio_ttft_long_vs_llamacpp``, lower is
better). Our child also reports the model's load time after ``import torch``
and its RSS growth against ``1.5 × GGUF + KV cache``.

Run ``python -m engine.bench.decode [--threads N] [--tokens 128] [--json FILE]``
or ``agentkit bench decode``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from engine._engine import Engine
from engine._threads import physical_cores
from engine.bench._child import in_child
from engine.bench._peer import llamacpp_available, peak_rss_mb, run_llamacpp, timing_row
from engine.bench.tasks import LONG_TASK, TASK_PROMPTS, long_prompt
from engine.bench.timing import NO_PREFIX_CACHE, generate
from engine.loader import default_model_path

__all__ = ["BenchResult", "DecodeBench", "run_decode_bench"]

EngineName = Literal["agentkit", "llama.cpp"]


@dataclass(frozen=True)
class BenchResult:
    """One engine on one task.

    Attributes:
        engine: "agentkit" or "llama.cpp".
        task: task name.
        prompt_tokens, new_tokens: token counts.
        prompt_tokens_per_s: prefill throughput.
        decode_tokens_per_s: tokens after the first per second of decode.
        ttft_ms: time to the first new token.
        decode_s: seconds decoding (after the first token).
        peak_rss_mb: peak resident memory of the process so far.
    """

    engine: EngineName
    task: str
    prompt_tokens: int
    new_tokens: int
    prompt_tokens_per_s: float
    decode_tokens_per_s: float
    ttft_ms: float
    decode_s: float
    peak_rss_mb: float


@dataclass(frozen=True)
class DecodeBench:
    """All results, and our speed relative to llama.cpp.

    Attributes:
        results: one per engine × task.
        ratio_decode_vs_llamacpp: (Σ new tokens / Σ decode time) ours over
            theirs across the four `TASK_PROMPTS` tasks, or None without llama.cpp.
        ratio_ttft_long_vs_llamacpp: our time to first token over llama.cpp's on
            the ~500-token prompt (≤ 1 is the target), or None.
        threads: threads each engine used.
        load_ms: our model's load time in a fresh process, after ``import torch``.
        rss_growth_mb: our child's peak RSS growth from just after ``import torch``
            to the loaded model.
        rss_budget_mb: 1.5 × the GGUF file size + the KV cache (the target bound).
    """

    results: list[BenchResult] = field(default_factory=list)
    ratio_decode_vs_llamacpp: float | None = None
    ratio_ttft_long_vs_llamacpp: float | None = None
    threads: int = 0
    load_ms: float | None = None
    rss_growth_mb: float | None = None
    rss_budget_mb: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Every attribute; ``results`` as a list of dicts."""
        out = asdict(self)
        out["results"] = [asdict(r) for r in self.results]
        return out


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _bench_ours(
    engine: Engine, task: str, prompt_ids: list[int], new_tokens: int, repeats: int = 1
) -> BenchResult:
    """Time ``Engine.generate`` (see the module doc): TTFT and decode time, each a median."""
    runs = [generate(engine, prompt_ids, new_tokens) for _ in range(repeats)]
    row = timing_row(
        len(prompt_ids), len(runs[0].tokens), statistics.median(r.ttft_s for r in runs),
        statistics.median(r.decode_s for r in runs),
    )  # fmt: skip
    return BenchResult("agentkit", task, peak_rss_mb=peak_rss_mb(), **row)


def _child_ours(
    model: str, threads: int, tokens: int, tasks: list[str], repeats: int
) -> dict[str, Any]:
    """Load the model and time every task (runs in a fresh process, see `run_decode_bench`)."""
    import torch  # noqa: F401  (the memory and time baselines start after this import)

    rss0 = _rss_mb()
    t0 = time.perf_counter()
    # plain decode: speculation off (it has its own benchmark, engine.bench.speculative)
    engine = Engine.load(
        model, threads=threads, max_seq_len=1024, max_slots=1, speculation=False,
        scheduler=NO_PREFIX_CACHE,
    )  # fmt: skip
    load_ms = (time.perf_counter() - t0) * 1e3
    growth = peak_rss_mb() - rss0
    path = default_model_path() if model == "default" else model
    budget = 1.5 * os.path.getsize(path) / 2**20 + engine.cache.nbytes / 2**20

    def count(messages: list[dict[str, str]]) -> int:
        return len(engine.encode(engine.render_chat(messages)))

    convs = {t: TASK_PROMPTS[t] for t in tasks if t in TASK_PROMPTS}
    if LONG_TASK in tasks:
        convs[LONG_TASK] = long_prompt(500, count)
    prompts = {t: engine.encode(engine.render_chat(m)) for t, m in convs.items()}
    results = []
    try:
        for t, ids in prompts.items():
            _bench_ours(engine, t, ids, 4)  # warm the kernels' first calls and the allocator
            results.append(asdict(_bench_ours(engine, t, ids, tokens, repeats)))
    finally:
        engine.close()
    return {"results": results, "prompts": prompts, "load_ms": load_ms,
            "rss_growth_mb": growth, "rss_budget_mb": budget}  # fmt: skip


def _rate(results: list[BenchResult], engine: str) -> float:
    rs = [r for r in results if r.engine == engine and r.task in TASK_PROMPTS]
    return sum(r.new_tokens - 1 for r in rs) / max(sum(r.decode_s for r in rs), 1e-9)


def _ttft_ratio(results: list[BenchResult]) -> float | None:
    ttft = {r.engine: r.ttft_ms for r in results if r.task == LONG_TASK}
    if "agentkit" not in ttft or "llama.cpp" not in ttft:
        return None
    return ttft["agentkit"] / ttft["llama.cpp"]


def run_decode_bench(
    model_path: str = "default",
    *,
    threads: int | None = None,
    new_tokens: int = 128,
    tasks: tuple[str, ...] = (*TASK_PROMPTS, LONG_TASK),
    with_llamacpp: bool = True,
    repeats: int = 3,
) -> DecodeBench:
    """Time greedy decoding of ``new_tokens`` per task on our engine and on llama.cpp.

    Both engines get the same prompt token ids (our chat template) and decode
    exactly ``new_tokens`` tokens (EOS ignored), each in a child process; TTFT
    and decode time are medians of ``repeats`` runs (this machine's speed
    drifts by ±15% from minute to minute).

    Args:
        model_path: a GGUF file or ``"default"`` (llama.cpp needs a GGUF).
        threads: threads for both engines (default: physical cores).
        new_tokens: tokens to generate per task.
        tasks: names from `TASK_PROMPTS`, and `LONG_TASK`.
        with_llamacpp: also run llama.cpp when ``llama_cpp`` is importable.
        repeats: timed runs per engine and task.

    Raises:
        RuntimeError: a child process failed.
    """
    n_threads = threads or physical_cores()
    ours = in_child(
        "engine.bench.decode:_child_ours", model=model_path, threads=n_threads, tokens=new_tokens,
        tasks=list(tasks), repeats=repeats,
    )  # fmt: skip
    results = [BenchResult(**r) for r in ours["results"]]
    if with_llamacpp and llamacpp_available():
        path = str(default_model_path()) if model_path == "default" else model_path
        peer = run_llamacpp(path, ours["prompts"], n_threads, new_tokens, repeats)
        results += [BenchResult(engine="llama.cpp", **r) for r in peer]
    has_peer = any(r.engine == "llama.cpp" for r in results)
    ratio = _rate(results, "agentkit") / _rate(results, "llama.cpp") if has_peer else None
    return DecodeBench(
        results, ratio, _ttft_ratio(results), n_threads,
        ours["load_ms"], ours["rss_growth_mb"], ours["rss_budget_mb"],
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """CLI: print a table (and write JSON with ``--json FILE``)."""
    ap = argparse.ArgumentParser(prog="python -m engine.bench.decode")
    ap.add_argument("--model", default="default")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--tasks", default=",".join((*TASK_PROMPTS, LONG_TASK)))
    ap.add_argument("--no-llamacpp", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    bench = run_decode_bench(
        a.model, threads=a.threads, new_tokens=a.tokens, tasks=tuple(a.tasks.split(",")),
        with_llamacpp=not a.no_llamacpp, repeats=a.repeats,
    )  # fmt: skip
    out = sys.stdout
    for r in bench.results:
        out.write(
            f"{r.engine:10s} {r.task:17s} prompt {r.prompt_tokens:4d} tok "
            f"{r.prompt_tokens_per_s:7.1f} tok/s  decode {r.decode_tokens_per_s:6.1f} tok/s  "
            f"ttft {r.ttft_ms:7.1f} ms  rss {r.peak_rss_mb:6.0f} MB\n"
        )
    out.write(f"ratio decode vs llama.cpp: {bench.ratio_decode_vs_llamacpp}\n")
    out.write(f"ratio TTFT (long prompt) vs llama.cpp: {bench.ratio_ttft_long_vs_llamacpp}\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(bench.to_json(), f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
