"""``agentkit bench decode|speculative|batching|kernels|agent|http|soak|load|report``: measured.

Each benchmark prints a table and, with ``--json FILE``, writes its numbers.
``soak`` alone also judges its run: it exits 1 when one of its checks fails.
``report`` runs them all plus the routing/safety evaluations and writes
``docs/benchmarks.md`` with plots; the evaluations need labelled data, given
with ``--eval-data FILE`` or ``$AGENTKIT_EVAL_DATA`` (the flag wins).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from agentkit.cli._bench_load import add_load_args, run_load
from agentkit.cli._common import add_threads_arg, write_json

__all__ = ["EVAL_DATA_ENV", "register"]

EVAL_DATA_ENV = "AGENTKIT_EVAL_DATA"  # `bench report --eval-data` when the flag is not given


def register(subparsers: Any) -> None:
    """Add ``bench`` and its subcommands."""
    bench = subparsers.add_parser("bench", help="run a benchmark (prints a table, writes JSON)")
    sub = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    for name, helptext, func in (
        ("decode", "plain decode: our engine vs llama.cpp, same prompts and threads", _decode),
        ("speculative", "speculation off/on per drafter and task", _speculative),
        ("batching", "sequential vs static vs dynamic batching at 1–32 clients", _batching),
        ("kernels", "a k-row forward vs a 1-row forward on each kernel path (row cost)", _kernels),
        ("agent", "budget overshoot, fault storms, SDK overhead per turn", _agent),
        ("http", "end to end over HTTP: agentkit serve vs llama.cpp's server", _http),
        ("soak", "agentkit serve under mixed good/bad/cancelled/dropped requests", _soak),
        ("load", "N concurrent mixed requests through agentkit serve vs one by one", run_load),
        ("report", "run everything and write docs/benchmarks.md", _report),
        ("compare", "key numbers of two report runs (benchmarks.json) side by side", _compare),
    ):
        p = sub.add_parser(name, help=helptext)
        if name == "compare":
            p.add_argument("runs", type=Path, nargs=2, metavar="BENCHMARKS_JSON")
            p.set_defaults(func=func)
            continue
        p.add_argument("--json", type=Path, default=None, help="write the results here")
        add_threads_arg(p)
        p.add_argument("--log-level", default="error")
        if name in {"decode", "speculative", "http"}:
            p.add_argument("--tokens", type=int, default=128, help="new tokens per task")
            p.add_argument("--no-llamacpp", action="store_true", help="skip the llama.cpp peers")
        if name in {"decode", "http"}:
            p.add_argument("--model", default="default", help="GGUF file every engine runs")
            p.add_argument(
                "--quants",
                action="store_true",
                help="run once per quantisation (Q4_1, Q4_0, Q8_0, Q4_K_M; make bench-quants)",
            )
            p.add_argument(
                "--rounds", type=_count, default=3, help="alternated rounds (ours, peer, ...)"
            )
        if name == "soak":
            _soak_args(p)
        if name == "load":
            add_load_args(p)
        if name == "kernels":
            p.add_argument("--paths", nargs="*", help="kernel paths (default: all the CPU runs)")
            p.add_argument("--rows", type=int, nargs="*", default=[1, 2, 4, 8, 16])
            p.add_argument("--rounds", type=_count, default=3, help="alternated rounds")
            p.add_argument("--cpu-time", action="store_true", help="thread CPU time, 1 thread")
        if name == "batching":
            p.add_argument("--quick", action="store_true", help="fewer clients and requests")
            p.add_argument(
                "--hog",
                type=_count,
                default=0,
                metavar="N",
                help="run N unpinned busy-loop processes beside the engine (docs/threads.md)",
            )
        if name == "report":
            p.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
            p.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
            p.add_argument(
                "--eval-data",
                type=Path,
                default=None,
                metavar="JSONL",
                help=f"labelled set for the routing/safety evaluation (default: ${EVAL_DATA_ENV}; "
                "without either, the evaluation is left out of the report)",
            )
        p.set_defaults(func=func)


def _count(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))  # "[low–high]" ranges are text, not markup
    for i, col in enumerate(columns):
        table.add_column(escape(col), justify="left" if i < 2 else "right")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    Console().print(table)


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _range(pair: list[float] | tuple[float, float] | None, digits: int = 1) -> str:
    """``[low–high]`` of a measured range, ``""`` when there is none."""
    return "" if not pair else f"[{_f(pair[0], digits)}–{_f(pair[1], digits)}]"


def _per_model(args: argparse.Namespace, one: Any) -> int:
    """Run ``one(args, model)`` for ``--model``, or for each quantisation with ``--quants``."""
    if not args.quants:
        data = one(args, args.model)
    else:
        from engine.bench._quants import quant_models

        data = {"quants": {}, "missing": []}
        for quant, path in quant_models().items():
            if path is None:
                print(f"{quant}: no model file (make bench-quants), skipped")
                data["missing"].append(quant)
            else:
                print(f"== {quant}: {path}")
                data["quants"][quant] = one(args, str(path))
    if args.json:
        write_json(args.json, data)
    return 0


def _kernels(args: argparse.Namespace) -> int:
    from engine.bench.row_cost import run_row_cost

    report = run_row_cost(args.paths, args.rows, max(args.rounds, 1), args.threads, args.cpu_time)
    print(report.table())
    if args.json:
        write_json(args.json, report.to_json())
    return 0


def _decode(args: argparse.Namespace) -> int:
    return _per_model(args, _decode_one)


def _decode_one(args: argparse.Namespace, model: str) -> dict[str, Any]:
    from engine.bench.decode import run_decode_bench

    bench = run_decode_bench(
        model, threads=args.threads, new_tokens=args.tokens,
        with_llamacpp=not args.no_llamacpp, rounds=max(args.rounds, 1),
    )  # fmt: skip
    data = bench.to_json()
    _table(
        f"decode, {bench.threads} threads, {args.tokens} new tokens, medians [ranges] of "
        f"{bench.rounds} alternated rounds, {Path(bench.model).name}",
        ["engine", "task", "TTFT ms", "decode tok/s (after the first)", "same tokens", "RSS MB"],
        [
            [r["engine"], r["task"], f"{_f(r['ttft_ms'])} {_range(r['ttft_range_ms'])}",
             f"{_f(r['decode_tokens_per_s'])} {_range(r['decode_range'])}",
             {None: "-", True: "yes", False: "NO"}[r["same_tokens_as_ours"]],
             _f(r["peak_rss_mb"], 0)]
            for r in data["results"]
        ],
    )  # fmt: skip
    print(
        f"ratio decode vs llama.cpp: {_f(data['ratio_decode_vs_llamacpp'], 2)} "
        f"{_range(data['ratio_decode_range'], 2)}"
    )
    print(
        f"ratio TTFT, ~500-token prompt, vs llama.cpp: "
        f"{_f(data['ratio_ttft_long_vs_llamacpp'], 2)} {_range(data['ratio_ttft_range'], 2)} "
        "(lower is better)"
    )
    if "skipped" in data["peer"]:
        print(data["peer"]["skipped"])
    print(
        f"model load after import torch: {_f(data['load_ms'], 0)} ms; RSS growth "
        f"{_f(data['rss_growth_mb'], 0)} MB (bound {_f(data['rss_budget_mb'], 0)} MB)"
    )
    if data["bandwidth"] is not None:
        print(
            f"read bandwidth ({data['bandwidth']['threads']} threads, best of "
            f"{len(data['bandwidth']['rounds_gb_per_s'])}): {_f(data['bandwidth']['gb_per_s'], 1)} "
            f"GB/s; bound for this file {_f(data['bandwidth_bound_tok_s'], 0)} tok/s; our decode "
            f"(median of the short tasks) at {_f(data['bandwidth_fraction'], 2)} of it"
        )
    return data


def _speculative(args: argparse.Namespace) -> int:
    from engine.bench.speculative import run_speculative_bench

    bench = run_speculative_bench(
        threads=args.threads, new_tokens=args.tokens, with_llamacpp=not args.no_llamacpp
    )
    data = bench.to_json()
    _table(
        "speculative decoding (greedy; 'exact' = same tokens as plain decoding)",
        ["task", "drafter", "tok/s", "α", "tokens/step", "× plain", "× llama.cpp", "exact"],
        [
            [r["task"], r["drafter"], _f(r["tokens_per_s"]), _f(r["acceptance_rate"], 2),
             _f(r["mean_accepted_length"], 2), _f(r["speedup_vs_plain"], 2),
             _f(r["speedup_vs_llamacpp"], 2), "yes" if r["exact"] else "NO"]
            for r in data["rows"]
        ],
    )  # fmt: skip
    print(f"draft='auto' (the default) here: {data['auto']}; kernels: {data['kernel_path']}")
    if args.json:
        write_json(args.json, data)
    return 0


def _batching(args: argparse.Namespace) -> int:
    from engine import Engine
    from engine.bench.batching import run_batching_bench

    clients = (1, 4, 16) if args.quick else (1, 4, 8, 16, 32)
    engine = Engine.load("default", threads=args.threads, max_seq_len=512, max_slots=max(clients))
    bench = run_batching_bench(
        concurrency=clients,
        requests_per_client=1 if args.quick else 2,
        speculation=True,
        quick=args.quick,
        engine=engine,
        plot=str(args.json.with_suffix(".png")) if args.json else None,
        hog=args.hog,
    )
    data = bench.to_json()
    rows = []
    for n, modes in data["concurrency"].items():
        for mode, m in modes.items():
            rows.append(
                [n, mode, _f(m.get("tokens_per_s")), _f(m.get("p50_ms"), 0), _f(m.get("p99_ms"), 0),
                 _f(m.get("ttft_p99_ms"), 0), _f(m.get("padding_fraction"), 2),
                 str(m.get("threads") or "-")]
            )  # fmt: skip
    adaptive = "adaptive" if data["settings"]["adaptive_threads"] else "fixed"
    _table(
        f"batching (mixed workload), {adaptive} threads up to {engine.threads}, "
        f"{args.hog} busy neighbour(s)",
        ["clients", "mode", "tok/s", "p50 ms", "p99 ms", "TTFT p99 ms", "padding", "threads"],
        rows,
    )
    if args.json:
        write_json(args.json, data)
    return 0


def _http(args: argparse.Namespace) -> int:
    return _per_model(args, _http_one)


def _http_one(args: argparse.Namespace, model: str) -> dict[str, Any]:
    from agentkit.bench._http import run_http_bench

    bench = run_http_bench(
        threads=args.threads or 2, new_tokens=args.tokens, with_llamacpp=not args.no_llamacpp,
        rounds=max(args.rounds, 1), model=model,
    )  # fmt: skip
    data = bench.to_json()
    same = {None: "-", True: "yes", False: "NO"}
    _table(
        f"HTTP end to end (openai client, streaming /v1/completions, same prompt text), "
        f"{bench.threads} threads, medians [ranges] of {bench.rounds} alternated rounds",
        ["server", "task", "prompt tok", "tokens", "same count/text", "TTFT ms",
         "decode tok/s", "e2e tok/s"],
        [[r["server"], r["task"], str(r["prompt_tokens"]), str(r["completion_tokens"]),
          f"{same[r['same_count_as_ours']]}/{same[r['same_text_as_ours']]}",
          f"{_f(r['ttft_ms'])} {_range(r['ttft_range_ms'])}",
          f"{_f(r['decode_tokens_per_s'])} {_range(r['decode_range'])}",
          _f(r["e2e_tokens_per_s"])] for r in data["rows"]],
    )  # fmt: skip
    for pair, ratio in data["ratios"].items():
        print(
            f"{pair}: decode {_f(ratio['decode']['median'], 2)} "
            f"{_range((ratio['decode']['low'], ratio['decode']['high']), 2)}, TTFT "
            f"{_f(ratio['ttft']['median'], 2)} (lower is better), "
            f"e2e {_f(ratio['e2e']['median'], 2)}"
        )
    for peer in data["peers"].values():
        if "skipped" in peer:
            print(peer["skipped"])
    return data


def _soak_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--minutes", type=float, default=5.0, help="sending phase (0.05 = 3 s)")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight at once")
    p.add_argument("--seed", type=int, default=0, help="seeds the mix and every request")


def _soak(args: argparse.Namespace) -> int:
    from agentkit.bench._soak import run_soak

    report = run_soak(
        minutes=args.minutes,
        concurrency=args.concurrency,
        seed=args.seed,
        threads=args.threads or 2,
    )
    data = report.to_json()
    _table(
        f"soak: {report.requests} requests in {args.minutes:g} min, concurrency {args.concurrency}",
        ["kind", "group", "sent", "statuses", "p50 ms", "p99 ms", "failed"],
        [[k["kind"], k["group"], str(k["sent"]),
          " ".join(f"{s}x{n}" for s, n in k["statuses"].items()), _f(k["p50_ms"], 0),
          _f(k["p99_ms"], 0), str(k["failed"])] for k in data["kinds"]],
    )  # fmt: skip
    _soak_checks(report.checks)
    if args.json:
        write_json(args.json, data)
    print("soak: all checks hold" if report.ok else "soak: a check FAILED")
    return 0 if report.ok else 1


def _soak_checks(checks: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    verdict = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[yellow]skipped[/]"}
    table = Table(title="soak checks")
    for col in ("check", "result", "value", "bound", "why"):
        table.add_column(col, overflow="fold")
    for c in checks:
        table.add_row(c.name, verdict[c.passed], c.value, c.bound, c.detail[:160])
    Console().print(table)


def _compare(args: argparse.Namespace) -> int:
    from agentkit.bench._compare import compare_runs

    try:
        print(compare_runs(*args.runs))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}")
        return 2
    return 0


def _agent(args: argparse.Namespace) -> int:
    import dataclasses

    from agentkit.bench._agent import run_agent_bench

    data = dataclasses.asdict(run_agent_bench())
    flat = _flatten(data)
    _table("agent loop", ["metric", "", "value"], [[k, "", str(v)] for k, v in flat.items()])
    if args.json:
        write_json(args.json, data)
    return 0


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif not isinstance(value, list):
            out[name] = round(value, 3) if isinstance(value, float) else value
    return out


def eval_data_path(flag: Path | None) -> Path | None:
    """The report's evaluation data: ``--eval-data``, else ``$AGENTKIT_EVAL_DATA``, else None."""
    if flag is not None:
        return flag
    env = os.environ.get(EVAL_DATA_ENV, "").strip()
    return Path(env) if env else None


def _report(args: argparse.Namespace) -> int:
    from agentkit.bench._report import write_report

    data = eval_data_path(args.eval_data)
    if data is not None and not data.is_file():
        print(f"error: evaluation data not found: {data}")
        return 2
    path = write_report(args.out, threads=args.threads, quick=args.quick, eval_data=data)
    print(f"wrote {path}")
    return 0
