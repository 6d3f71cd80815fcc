"""Decode benchmark: our engine vs llama.cpp (when ``llama_cpp`` is importable).

Run ``python -m engine.bench [--threads N] [--tokens 128] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["TASK_PROMPTS", "BenchResult", "DecodeBench", "run_decode_bench"]

EngineName = Literal["agentkit", "llama.cpp"]

TASK_PROMPTS: dict[str, list[dict[str, str]]] = {
    "customer_service": [
        {"role": "system", "content": "You are a support agent for Acme Store. Policy: refunds "
         "within 30 days with receipt; shipping takes 3-5 business days; order status at "
         "acme.example/orders."},
        {"role": "user", "content": "My order #4521 hasn't arrived after a week. "
         "Can I get a refund?"},
    ],
    "code_edit": [
        {"role": "user", "content": "Rename the variable `total` to `subtotal` in this code and "
         "return the full code:\n\ndef price(items):\n    total = 0\n    for it in items:\n"
         "        total += it.price * it.qty\n    tax = total * 0.2\n    return total + tax\n"},
    ],
    "math": [{"role": "user", "content": "A train travels 120 km in 1.5 hours. What is its "
              "average speed in km/h? Explain step by step."}],
    "open_chat": [{"role": "user", "content": "What are some fun things to do on a rainy "
                   "weekend?"}],
}  # fmt: skip


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
    """All results, and our decode speed relative to llama.cpp.

    Attributes:
        results: one per engine × task.
        ratio_decode_vs_llamacpp: (Σ new tokens / Σ decode time) ours over theirs,
            or None without llama.cpp.
        threads: threads each engine used.
    """

    results: list[BenchResult] = field(default_factory=list)
    ratio_decode_vs_llamacpp: float | None = None
    threads: int = 0

    def to_json(self) -> dict[str, Any]:
        """``{"results": [...], "ratio_decode_vs_llamacpp": x, "threads": n}``."""
        return {
            "results": [asdict(r) for r in self.results],
            "ratio_decode_vs_llamacpp": self.ratio_decode_vs_llamacpp,
            "threads": self.threads,
        }


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _bench_ours(engine: Any, task: str, prompt_ids: list[int], new_tokens: int) -> BenchResult:
    """Time the engine's own decode loop (prefill, then one target step per token).

    Measured on the step functions, in the calling thread, rather than through
    the scheduler: its driver thread currently costs 2-thread decode a factor of
    ~3 (see docs/scheduler.md, "Known problems"), which is the scheduler's
    problem to fix, not the engine's decode speed.
    """
    from engine.bench_speculative import _decode

    t0 = time.perf_counter()
    _decode(engine, prompt_ids, 1, None)  # prefill + first token = time to first token
    ttft = time.perf_counter() - t0
    out, decode_s, _ = _decode(engine, prompt_ids, new_tokens, None)
    n = len(prompt_ids)
    return BenchResult(
        "agentkit", task, n, len(out), n / ttft, (len(out) - 1) / decode_s if decode_s else 0.0,
        ttft * 1e3, decode_s, _peak_rss_mb(),
    )  # fmt: skip


def _bench_llamacpp(llm: Any, task: str, prompt_ids: list[int], new_tokens: int) -> BenchResult:
    llm.reset()
    t0 = time.perf_counter()
    t_first = t0
    n = 0
    for _tok in llm.generate(prompt_ids, temp=0.0, top_k=1, reset=True):
        n += 1
        if n == 1:
            t_first = time.perf_counter()
        if n >= new_tokens:
            break
    end = time.perf_counter()
    decode_s = end - t_first
    p = len(prompt_ids)
    return BenchResult(
        "llama.cpp", task, p, n, p / (t_first - t0), (n - 1) / decode_s if decode_s else 0.0,
        (t_first - t0) * 1e3, decode_s, _peak_rss_mb(),
    )  # fmt: skip


def _ratio(results: list[BenchResult]) -> float | None:
    def speed(name: str) -> float:
        rs = [r for r in results if r.engine == name]
        return sum(r.new_tokens - 1 for r in rs) / max(sum(r.decode_s for r in rs), 1e-9)

    if not any(r.engine == "llama.cpp" for r in results):
        return None
    return speed("agentkit") / speed("llama.cpp")


def run_decode_bench(
    model_path: str = "default",
    *,
    threads: int | None = None,
    new_tokens: int = 128,
    tasks: tuple[str, ...] = tuple(TASK_PROMPTS),
    with_llamacpp: bool = True,
) -> DecodeBench:
    """Time greedy decoding of ``new_tokens`` per task on our engine and on llama.cpp.

    Both engines get the same prompt token ids (our chat template) and decode
    exactly ``new_tokens`` tokens (EOS ignored).

    Args:
        model_path: a GGUF file or ``"default"`` (llama.cpp needs a GGUF).
        threads: threads for both engines (default: physical cores).
        new_tokens: tokens to generate per task.
        tasks: subset of `TASK_PROMPTS`.
        with_llamacpp: also run llama.cpp when ``llama_cpp`` is importable.
    """
    from engine._engine import Engine, physical_cores
    from engine.loader import default_model_path

    n_threads = threads or physical_cores()
    # plain decode: speculation off (it has its own benchmark, engine.bench_speculative)
    engine = Engine.load(
        model_path, threads=n_threads, max_seq_len=1024, max_slots=1, speculation=False
    )
    prompts = {t: engine.encode(engine.render_chat(TASK_PROMPTS[t])) for t in tasks}
    for t in tasks:  # warm the kernels' first calls and the allocator
        _bench_ours(engine, t, prompts[t], 4)
    results = [_bench_ours(engine, t, prompts[t], new_tokens) for t in tasks]
    engine.close()  # no engine thread may compete with the peer's threads
    del engine
    gc.collect()
    if with_llamacpp:
        import importlib.util

        if importlib.util.find_spec("llama_cpp") is not None:
            import llama_cpp

            path = str(default_model_path()) if model_path == "default" else model_path
            llm = llama_cpp.Llama(model_path=path, n_threads=n_threads, n_ctx=1024, verbose=False)
            results += [_bench_llamacpp(llm, t, prompts[t], new_tokens) for t in tasks]
    return DecodeBench(results, _ratio(results), n_threads)


def main(argv: list[str] | None = None) -> int:
    """CLI: print a table (and write JSON with ``--json FILE``)."""
    ap = argparse.ArgumentParser(prog="python -m engine.bench")
    ap.add_argument("--model", default="default")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--tasks", default=",".join(TASK_PROMPTS))
    ap.add_argument("--no-llamacpp", action="store_true")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    bench = run_decode_bench(
        a.model, threads=a.threads, new_tokens=a.tokens, tasks=tuple(a.tasks.split(",")),
        with_llamacpp=not a.no_llamacpp,
    )  # fmt: skip
    out = sys.stdout
    for r in bench.results:
        out.write(
            f"{r.engine:10s} {r.task:17s} prompt {r.prompt_tokens:4d} tok "
            f"{r.prompt_tokens_per_s:7.1f} tok/s  decode {r.decode_tokens_per_s:6.1f} tok/s  "
            f"ttft {r.ttft_ms:7.1f} ms  rss {r.peak_rss_mb:6.0f} MB\n"
        )
    out.write(f"ratio decode vs llama.cpp: {bench.ratio_decode_vs_llamacpp}\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(bench.to_json(), f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
