"""``agentkit bench load``: N concurrent mixed requests through ``agentkit serve`` vs one by one."""

from __future__ import annotations

import argparse
from typing import Any

from agentkit.cli._common import write_json

__all__ = ["add_load_args", "run_load"]


def add_load_args(p: argparse.ArgumentParser) -> None:
    """The ``load`` benchmark's own flags."""
    p.add_argument("--clients", type=int, default=16, help="requests sent at once (default 16)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, each mode on a fresh server")
    p.add_argument("--slots", type=int, default=None, help="server --slots (default: --clients)")
    p.add_argument("--quick", action="store_true", help="outputs scaled to a quarter")
    p.add_argument(
        "--speculation", choices=("on", "off"), default="on", help="server --speculation"
    )


def run_load(args: argparse.Namespace) -> int:
    """Run it, print the summary, write ``--json``."""
    from agentkit.bench._load import run_load_bench

    bench = run_load_bench(
        clients=args.clients, rounds=args.rounds, threads=args.threads or 2, slots=args.slots,
        server_args=["--speculation", args.speculation], scale=0.25 if args.quick else 1.0,
    )  # fmt: skip
    data: dict[str, Any] = bench.to_json()
    s, q, c = bench.speedup, bench.sequential_s, bench.concurrent_s
    print(
        f"{bench.clients} mixed requests through agentkit serve ({bench.threads} threads, "
        f"{bench.slots} slots, {bench.rounds} rounds, fresh server per mode and round)\n"
        f"  one after another: {q['median']:.2f} s [{q['low']:.2f}–{q['high']:.2f}]\n"
        f"  all at once:       {c['median']:.2f} s [{c['low']:.2f}–{c['high']:.2f}]\n"
        f"  speed-up:          {s['median']:.2f}x [{s['low']:.2f}–{s['high']:.2f}]\n"
        f"  completion tokens: {bench.tokens}  same answers in both modes: {bench.same_text}\n"
        f"  customer-service turn: {bench.cs_alone_ms:.0f} ms alone, p99 "
        f"{bench.cs_p99_loaded_ms:.0f} ms under load ({bench.cs_p99_ratio:.2f}x)"
    )
    if args.json:
        write_json(args.json, data)
    return 0
