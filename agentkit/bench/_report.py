"""`agentkit bench report`: run every benchmark and write ``docs/benchmarks.md``.

Every number in the report comes from the runs made by this command; the
raw results are written next to it as ``benchmarks.json``, the plots as PNGs.

The routing/safety evaluation and the tier-latency prompts read a labelled
JSON Lines set (the routing dev set) given as ``eval_data``; nothing here looks
for it by itself. Without it the evaluation is left out and the tier latency
runs on a built-in request, and the report says so.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["write_report"]

_FALLBACK_REQUEST = "How do I reset my online banking password?"


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return (
        f"{model}, {os.cpu_count()} logical cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )


def _tier_prompts(n: int, eval_data: str | None) -> list[list[dict[str, str]]]:
    """``n`` routine customer-service requests: Banking77 rows of ``eval_data``, else built-ins."""
    system = {"role": "system", "content": "You are a concise, friendly banking support agent."}
    texts: list[str] = []
    if eval_data is not None:
        for line in Path(eval_data).read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("source") == "banking77":
                texts.append(row["text"])
            if len(texts) >= n:
                break
    texts = texts or [_FALLBACK_REQUEST] * n
    return [[system, {"role": "user", "content": t}] for t in texts]


def _fast_tier_latency(threads: int, n: int, tokens: int, eval_data: str | None) -> dict[str, Any]:
    """End-to-end latency of routine answers on the engine, speculation off and on."""
    from engine import Engine
    from engine.bench.speculative import auto_factory
    from engine.bench.timing import generate_with

    engine = Engine.load("default", threads=threads, max_seq_len=1024, max_slots=1)
    best = auto_factory(engine)  # what the fast tier runs by default
    out: dict[str, Any] = {}
    for name, drafters in (("plain target", None), ("speculative fast tier", best)):
        lat, rates = [], []
        for messages in _tier_prompts(n, eval_data):
            ids = engine.encode(engine.render_chat(messages))
            t0 = time.perf_counter()
            toks = generate_with(engine, ids, tokens, drafters).tokens
            secs = time.perf_counter() - t0
            lat.append(secs * 1e3)
            rates.append(len(toks) / secs)
        out[name] = {"latencies_ms": lat, "tokens_per_s": statistics.mean(rates)}
    return out


def _deep_tier_latency(threads: int, n: int, tokens: int, eval_data: str | None) -> dict[str, Any]:
    """The deep tier as the demo runs it offline: `agentkit serve` over HTTP."""
    import anyio

    from agentkit._local_server import LocalServer
    from agentkit._messages import Message
    from agentkit._model import SamplingSettings
    from agentkit._openai_model import OpenAIModel

    async def run(base_url: str) -> dict[str, Any]:
        model = OpenAIModel("smollm2-135m-instruct", base_url=base_url)
        settings = SamplingSettings(max_tokens=tokens)
        lat, rates = [], []
        for messages in _tier_prompts(n, eval_data):
            msgs = [Message(role=m["role"], content=m["content"]) for m in messages]  # type: ignore[arg-type]
            t0 = time.perf_counter()
            reply = await model.complete(msgs, settings=settings)
            secs = time.perf_counter() - t0
            lat.append(secs * 1e3)
            rates.append(reply.usage.completion_tokens / secs)
        return {"latencies_ms": lat, "tokens_per_s": statistics.mean(rates)}

    with LocalServer(threads=threads) as server:
        return {"deep tier (agentkit serve, HTTP)": anyio.run(run, server.base_url)}


def _evaluations(eval_data: str | None) -> dict[str, Any]:
    if eval_data is None:
        return {}
    from agentkit.safety._eval import evaluate
    from agentkit.safety._local import LocalSafetyFilter
    from router import LayeredRouter, RouterPolicy
    from router._train import load_jsonl

    rows = load_jsonl(eval_data)
    return {
        mode: evaluate(
            rows, mode=mode, router=LayeredRouter(RouterPolicy()), safety=LocalSafetyFilter()
        )
        for mode in ("routing", "safety")
    }


def _run_all(
    threads: int, quick: bool, eval_data: str | None, step: Callable[[str], None]
) -> dict[str, Any]:
    from agentkit.bench._agent import run_agent_bench
    from engine.bench._child import in_child
    from engine.bench.decode import run_decode_bench

    tokens = 32 if quick else 128
    n = 4 if quick else 20
    results: dict[str, Any] = {}
    step("decode: ours vs llama.cpp")
    results["decode"] = run_decode_bench(threads=threads, new_tokens=tokens).to_json()
    step("speculative decoding")
    results["speculative"] = in_child(
        "engine.bench.speculative:run_speculative_bench", threads=threads, new_tokens=tokens
    )
    step("batching")
    # one request per client keeps the report under ~15 minutes on 2 cores;
    # `agentkit bench batching` runs the full 1–32 sweep
    results["batching"] = in_child(
        "engine.bench.batching:run_batching_bench",
        concurrency=[1, 4, 16] if quick else [1, 4, 8, 16],
        requests_per_client=1, speculation=True, quick=quick,
    )  # fmt: skip
    step("agent loop")
    agent = run_agent_bench(turns=40 if quick else 200, overhead_turns=100 if quick else 1000)
    results["agent"] = dataclasses.asdict(agent)
    step("HTTP: agentkit serve vs llama.cpp server")
    from agentkit.bench._http import run_http_bench

    results["http"] = run_http_bench(threads=threads, new_tokens=tokens).to_json()
    step("server overhead")
    from agentkit.bench._overhead import measure_overhead

    results["server_overhead"] = dataclasses.asdict(measure_overhead(samples=100 if quick else 300))
    step("tier latency")
    tiers = in_child(
        "agentkit.bench._report:_fast_tier_latency",
        threads=threads, n=n, tokens=64, eval_data=eval_data,
    )  # fmt: skip
    tiers.update(_deep_tier_latency(threads, n, 64, eval_data))
    results["tiers"] = tiers
    step("routing and safety evaluation")
    results["eval"] = _evaluations(eval_data)
    return results


def write_report(
    out: Path, *, threads: int | None = None, quick: bool = False, eval_data: Path | None = None
) -> Path:
    """Run the benchmarks and write the Markdown report, its JSON and its plots.

    Args:
        out: The Markdown file; ``benchmarks.json`` and ``img/`` go beside it.
        threads: Compute threads (default: the machine's usable physical cores).
        quick: Smaller runs (a smoke test of the whole report).
        eval_data: The labelled JSON Lines set (rows with ``text``, ``source``
            and the labels `agentkit.safety` evaluates) for the routing/safety
            evaluation and the tier-latency prompts; None leaves the
            evaluation out and times a built-in request.

    Returns:
        ``out``.

    Raises:
        FileNotFoundError: ``eval_data`` is given but is not a file (checked
            before any benchmark runs).
    """
    if eval_data is not None and not eval_data.is_file():
        raise FileNotFoundError(f"evaluation data not found: {eval_data}")
    data = None if eval_data is None else str(eval_data.resolve())
    from rich.console import Console

    from agentkit.bench._markdown import render_markdown
    from agentkit.bench._plots import draw_plots
    from agentkit.cli._common import default_threads

    n_threads = threads or default_threads()
    console = Console(stderr=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with console.status("benchmarks") as status:
        results = _run_all(n_threads, quick, data, lambda s: status.update(f"benchmark: {s}"))
    out.parent.mkdir(parents=True, exist_ok=True)
    plots = draw_plots(results, out.parent / "img")
    meta = {
        "date": started,
        "machine": _machine(),
        "threads": n_threads,
        "command": "agentkit bench report"
        + (" --quick" if quick else "")
        + ("" if eval_data is None else f" --eval-data {eval_data.name}"),
        "eval_data": None if eval_data is None else eval_data.name,
        "argv": " ".join(sys.argv),
    }
    (out.parent / "benchmarks.json").write_text(json.dumps({"meta": meta, **results}, indent=2))
    out.write_text(render_markdown(meta, results, plots, out.parent))
    return out
