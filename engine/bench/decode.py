"""Decode benchmark: our engine vs llama.cpp (when ``llama_cpp`` is importable).

Ours is timed as users run it: ``Engine.generate`` (the scheduler, one request,
speculation off, no prefix cache so that every run prefills its prompt), with
the times the engine reports in its result. Each engine runs in a fresh child
process of its own (two runtimes in one process compete for the cores; see
`engine.bench._peer`), on the same prompt token ids, the same greedy settings
and the same thread count, both warmed up on each prompt first; the peer is
configured as its users run it (flash attention, ``n_threads_batch``,
``logits_all=False``, repeat penalty off). Both decode exactly ``new_tokens``
tokens (EOS ignored) and every row says whether the peer emitted the same
tokens as we did. The engines alternate over ``rounds`` rounds (ours, peer,
ours, peer, ...; `engine.bench._rounds`): each number is the median of its
rounds with the range beside it, and each ratio the median of the per-round
ratios. TTFT and the decode rate (the tokens after the first over the time
after the first) are reported apart. The result records the machine's CPU
features and versions and the peer's ``llama_cpp.__version__`` and
``llama_print_system_info()``. Tasks: the
four of `TASK_PROMPTS` (their summed decode rates give
``ratio_decode_vs_llamacpp``) and ``long_prompt``, a ~500-token grounded
prompt for time to first token (``ratio_ttft_long_vs_llamacpp``, lower is
better). Our child also reports the model's load time after ``import torch``
and its RSS growth against ``1.5 × GGUF + KV cache``.

Run ``python -m engine.bench.decode [--model GGUF] [--threads N] [--tokens 128]
[--rounds 3] [--json FILE]`` or ``agentkit bench decode``.
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
from engine.bench._machine import machine_info
from engine.bench._peer import llamacpp_available, peak_rss_mb, run_llamacpp, timing_row
from engine.bench._rounds import alternate, spread
from engine.bench.bandwidth import decode_bound
from engine.bench.tasks import LONG_TASK, TASK_PROMPTS, long_prompt, tagged
from engine.bench.timing import NO_PREFIX_CACHE, generate
from engine.loader import default_model_path

__all__ = ["BenchResult", "DecodeBench", "run_decode_bench"]

EngineName = Literal["agentkit", "llama.cpp"]


@dataclass(frozen=True)
class BenchResult:
    """One engine on one task, over the rounds.

    Attributes:
        engine: "agentkit" or "llama.cpp".
        task: task name.
        prompt_tokens, new_tokens: token counts.
        prompt_tokens_per_s: prefill throughput (from the median TTFT).
        decode_tokens_per_s: the median round's tokens after the first per second.
        ttft_ms: the median round's time to the first new token.
        decode_s: the median round's seconds decoding (after the first token).
        peak_rss_mb: peak resident memory of the process.
        decode_range: the slowest and fastest round's decode rate.
        ttft_range_ms: the shortest and longest round's TTFT.
        rounds: rounds measured.
        same_count_as_ours: the peer emitted as many tokens as we did in every
            round (None on our own rows).
        same_tokens_as_ours: ... and the very same token ids (None on ours).
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
    decode_range: tuple[float, float] = (0.0, 0.0)
    ttft_range_ms: tuple[float, float] = (0.0, 0.0)
    rounds: int = 1
    same_count_as_ours: bool | None = None
    same_tokens_as_ours: bool | None = None


@dataclass(frozen=True)
class DecodeBench:
    """All results, and our speed relative to llama.cpp.

    Attributes:
        results: one per engine × task.
        ratio_decode_vs_llamacpp: the median over rounds of (Σ decoded tokens /
            Σ decode time) ours over theirs across the four `TASK_PROMPTS`
            tasks, or None without llama.cpp.
        ratio_decode_range: the lowest and highest round's decode ratio.
        ratio_ttft_long_vs_llamacpp: the median over rounds of our time to first
            token over llama.cpp's on the ~500-token prompt (≤ 1 is the target), or None.
        ratio_ttft_range: the lowest and highest round's TTFT ratio.
        threads: threads each engine used.
        rounds: alternated rounds (ours, peer, ours, peer, ...).
        model: the GGUF file both engines ran.
        load_ms: our model's load time in a fresh process, after ``import torch``
            (the median round).
        rss_growth_mb: our child's peak RSS growth from just after ``import torch``
            to the loaded model.
        rss_budget_mb: 1.5 × the GGUF file size + the KV cache (the target bound).
        machine: our side: CPU model, CPU feature flags, versions (`machine_info`).
        peer: the peer's ``version``, ``system_info``, ``settings`` and
            ``sampling``, or a ``skipped`` line saying why it did not run.
        bandwidth: the machine's read bandwidth (`engine.bench.bandwidth.Bandwidth`,
            measured in a child before the rounds), or None when not measured.
        bandwidth_bound_tok_s: the decode rate that bandwidth allows this model file
            (every weight read once per token).
        bandwidth_fraction: our median decode rate over the short tasks divided by
            that bound (issue 18's target: >= 0.8 on Q4_1).
    """

    results: list[BenchResult] = field(default_factory=list)
    ratio_decode_vs_llamacpp: float | None = None
    ratio_ttft_long_vs_llamacpp: float | None = None
    threads: int = 0
    load_ms: float | None = None
    rss_growth_mb: float | None = None
    rss_budget_mb: float | None = None
    ratio_decode_range: tuple[float, float] | None = None
    ratio_ttft_range: tuple[float, float] | None = None
    rounds: int = 1
    model: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    peer: dict[str, Any] = field(default_factory=dict)
    bandwidth: dict[str, Any] | None = None
    bandwidth_bound_tok_s: float | None = None
    bandwidth_fraction: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Every attribute; ``results`` as a list of dicts."""
        out = asdict(self)
        out["results"] = [asdict(r) for r in self.results]
        return out


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child_ours(model: str, threads: int, tokens: int, tasks: list[str]) -> dict[str, Any]:
    """Load the model and time every task once (a fresh process per round: `run_decode_bench`)."""
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
    rows = []
    try:
        for t, ids in prompts.items():
            generate(engine, ids, 4)  # warm the kernels' first calls and the allocator
            run = generate(engine, ids, tokens)
            row = timing_row(len(ids), len(run.tokens), run.ttft_s, run.decode_s)
            rows.append({"task": t, **row, "peak_rss_mb": peak_rss_mb(), "tokens": run.tokens})
    finally:
        engine.close()
    return {"rows": rows, "prompts": prompts, "load_ms": load_ms,
            "rss_growth_mb": growth, "rss_budget_mb": budget}  # fmt: skip


def rendered_rounds(model: str, rounds: int) -> dict[str, list[dict[str, Any]]]:
    """Per `TASK_PROMPTS` task, ``rounds + 1`` prompts rendered by our chat template.

    The first is the warm-up's (tag ``warm-up``), then one per round (tag
    ``round N``), each as ``{"text", "prompt_tokens"}``: the HTTP benchmark
    sends every server this same text on ``/v1/completions``, so no server's
    own chat rendering enters the comparison. Runs in a child (`in_child`).
    """
    engine = Engine.load(model, max_slots=1, max_seq_len=1024, speculation=False)
    try:
        out: dict[str, list[dict[str, Any]]] = {}
        for task, messages in TASK_PROMPTS.items():
            tags = ["warm-up", *(f"round {r + 1}" for r in range(rounds))]
            texts = [engine.render_chat(tagged(messages, t)) for t in tags]
            out[task] = [{"text": t, "prompt_tokens": len(engine.encode(t))} for t in texts]
        return out
    finally:
        engine.close()


def summarise(
    engine: EngineName, rounds: list[list[dict[str, Any]]], ours: list[list[dict[str, Any]]]
) -> list[BenchResult]:
    """One `BenchResult` per task from each round's rows (medians and ranges).

    Args:
        engine: whose rows these are.
        rounds: per round, one row per task (`timing_row` fields, ``task``,
            ``peak_rss_mb`` and the generated ``tokens``).
        ours: our own rounds, the same shape: the peer's tokens are compared
            with ours of the same round (pass ``rounds`` itself for our rows).
    """
    out = []
    for i, first in enumerate(rounds[0]):
        rows = [r[i] for r in rounds]
        mine = [r[i] for r in ours]
        ttft, rate = (
            spread(r["ttft_ms"] for r in rows),
            spread(r["decode_tokens_per_s"] for r in rows),
        )
        peer = engine != "agentkit"
        pairs = list(zip(rows, mine, strict=True))
        out.append(BenchResult(
            engine, first["task"], first["prompt_tokens"], first["new_tokens"],
            first["prompt_tokens"] / (ttft.median / 1e3) if ttft.median else 0.0,
            rate.median, ttft.median, spread(r["decode_s"] for r in rows).median,
            max(r["peak_rss_mb"] for r in rows), (rate.low, rate.high), (ttft.low, ttft.high),
            len(rows),
            all(len(a["tokens"]) == len(b["tokens"]) for a, b in pairs) if peer else None,
            all(a["tokens"] == b["tokens"] for a, b in pairs) if peer else None,
        ))  # fmt: skip
    return out


def _rate(rows: list[dict[str, Any]]) -> float:
    """Σ tokens after the first / Σ decode seconds over the four chat tasks of one round."""
    rs = [r for r in rows if r["task"] in TASK_PROMPTS]
    return float(sum(r["new_tokens"] - 1 for r in rs) / max(sum(r["decode_s"] for r in rs), 1e-9))


def _ttft(rows: list[dict[str, Any]]) -> float | None:
    return next((float(r["ttft_ms"]) for r in rows if r["task"] == LONG_TASK), None)


def round_ratios(
    ours: list[list[dict[str, Any]]], peer: list[list[dict[str, Any]]]
) -> tuple[list[float], list[float]]:
    """Per round: our decode rate over the peer's, and our long-prompt TTFT over the peer's."""
    decode, ttft = [], []
    for mine, theirs in zip(ours, peer, strict=True):
        if any(r["task"] in TASK_PROMPTS for r in mine):
            decode.append(_rate(mine) / max(_rate(theirs), 1e-9))
        a, b = _ttft(mine), _ttft(theirs)
        if a is not None and b:
            ttft.append(a / b)
    return decode, ttft


def run_decode_bench(
    model_path: str = "default",
    *,
    threads: int | None = None,
    new_tokens: int = 128,
    tasks: tuple[str, ...] = (*TASK_PROMPTS, LONG_TASK),
    with_llamacpp: bool = True,
    rounds: int = 3,
    with_bandwidth: bool = True,
) -> DecodeBench:
    """Time greedy decoding of ``new_tokens`` per task on our engine and on llama.cpp.

    Both engines get the same prompt token ids (our chat template) and decode
    exactly ``new_tokens`` tokens (EOS ignored), each in a fresh child process
    per round, the rounds alternating (see the module doc).

    Args:
        model_path: a GGUF file or ``"default"`` (llama.cpp needs a GGUF).
        threads: threads for both engines (default: physical cores).
        new_tokens: tokens to generate per task.
        tasks: names from `TASK_PROMPTS`, and `LONG_TASK`.
        with_llamacpp: also run llama.cpp when ``llama_cpp`` is importable
            (under `engine.bench._peer.peer_python`).
        rounds: alternated rounds; every number is the median of its rounds.
        with_bandwidth: measure the read bandwidth first (a child, ~2 s) and report
            our decode rate as a fraction of the bound it sets.

    Raises:
        RuntimeError: a child process failed.
        ValueError: ``rounds`` < 1.
    """
    n_threads = threads or physical_cores()
    path = str(default_model_path()) if model_path == "default" else model_path
    peer_on = with_llamacpp and llamacpp_available()
    peer_info: dict[str, Any] = {} if peer_on else {"skipped": (
        "llama.cpp peer skipped: llama_cpp is not installed (pip install -e '.[bench]', "
        "or set $AGENTKIT_LLAMACPP_PYTHON to a Python that has it)"
        if with_llamacpp else "llama.cpp peer skipped: --no-llamacpp")}  # fmt: skip
    bandwidth = (
        in_child("engine.bench.bandwidth:measure_read_bandwidth", threads=n_threads)
        if with_bandwidth
        else None
    )
    ours: list[dict[str, Any]] = []
    peer: list[list[dict[str, Any]]] = []
    for _, name in alternate(["agentkit", "llama.cpp"] if peer_on else ["agentkit"], rounds):
        if name == "agentkit":
            ours.append(in_child(
                "engine.bench.decode:_child_ours", model=model_path, threads=n_threads,
                tokens=new_tokens, tasks=list(tasks),
            ))  # fmt: skip
        else:
            run = run_llamacpp(path, ours[-1]["prompts"], n_threads, new_tokens)
            peer.append(run["rows"])
            peer_info = run["info"]
    mine = [o["rows"] for o in ours]
    results = summarise("agentkit", mine, mine) + (
        summarise("llama.cpp", peer, mine) if peer else []
    )
    decode, ttft = round_ratios(mine, peer) if peer else ([], [])
    d, t = (spread(x) if x else None for x in (decode, ttft))
    bound, fraction = _bandwidth_fraction(bandwidth, path, results)
    return DecodeBench(
        results, d.median if d else None, t.median if t else None, n_threads,
        spread(o["load_ms"] for o in ours).median, max(o["rss_growth_mb"] for o in ours),
        ours[0]["rss_budget_mb"], (d.low, d.high) if d else None,
        (t.low, t.high) if t else None, rounds, path, machine_info(), peer_info,
        bandwidth, bound, fraction,
    )  # fmt: skip


def _bandwidth_fraction(
    bandwidth: dict[str, Any] | None, path: str, results: list[BenchResult]
) -> tuple[float | None, float | None]:
    """The bound the bandwidth sets on this file, and our median short-task rate over it."""
    rates = [
        r.decode_tokens_per_s for r in results if r.engine == "agentkit" and r.task != LONG_TASK
    ]
    if bandwidth is None or not rates:
        return None, None
    bound = decode_bound(float(bandwidth["gb_per_s"]), os.path.getsize(path))
    return bound, statistics.median(rates) / bound


def main(argv: list[str] | None = None) -> int:
    """CLI: print a table (and write JSON with ``--json FILE``)."""
    ap = argparse.ArgumentParser(prog="python -m engine.bench.decode")
    ap.add_argument("--model", default="default")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--tasks", default=",".join((*TASK_PROMPTS, LONG_TASK)))
    ap.add_argument("--no-llamacpp", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    bench = run_decode_bench(
        a.model, threads=a.threads, new_tokens=a.tokens, tasks=tuple(a.tasks.split(",")),
        with_llamacpp=not a.no_llamacpp, rounds=a.rounds,
    )  # fmt: skip
    out = sys.stdout
    for r in bench.results:
        lo, hi = r.decode_range
        out.write(
            f"{r.engine:10s} {r.task:17s} prompt {r.prompt_tokens:4d} tok  decode "
            f"{r.decode_tokens_per_s:6.1f} [{lo:.1f}-{hi:.1f}] tok/s  ttft {r.ttft_ms:7.1f} ms  "
            f"same tokens {r.same_tokens_as_ours}\n"
        )
    out.write(f"ratio decode vs llama.cpp: {bench.ratio_decode_vs_llamacpp} "
              f"{bench.ratio_decode_range}\n")  # fmt: skip
    out.write(f"ratio TTFT (long prompt) vs llama.cpp: {bench.ratio_ttft_long_vs_llamacpp}\n")
    if "skipped" in bench.peer:
        out.write(bench.peer["skipped"] + "\n")
    if bench.bandwidth_fraction is not None:
        out.write(f"decode at {bench.bandwidth_fraction:.2f} of the read-bandwidth bound "
                  f"({bench.bandwidth_bound_tok_s:.0f} tok/s)\n")  # fmt: skip
    if a.json:
        with open(a.json, "w") as f:
            json.dump(bench.to_json(), f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
