"""Measure the warm start: a fresh process's first routine turn against its steady state.

Usage::

    .venv/bin/python scripts/bench_warm_start.py [--runs 3] [--turns 8] [--no-start]
        [--router layered|rule] [--safety local|none] [--max-tokens 16] [--json FILE]

Each run is a fresh Python process (``--child``) that builds the README's agent
(``EngineModel()`` on the default model, the calculator tool, ``LayeredRouter``,
``LocalSafetyFilter``; no deep tier, so a turn the router or the safety filter
would send deep stays on the fast tier), calls ``Runner.start`` (unless
``--no-start``: the README as written), then runs ``--turns`` routine questions,
each once, in an order rotated per run (a repeated question would be a whole-prompt
prefix-cache hit, flattering the steady state). It reports the first turn's
``elapsed_ms``, the median of the others (the steady state), and whether
``first <= 1.2 * steady + 30 ms`` (issue 19's target), plus ``warmup_ms`` and the
start-up time. A benchmark figure, not a test: machines and load vary.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

QUESTIONS = (
    "What is the daily ATM withdrawal limit?",
    "How do I change my card PIN?",
    "What are your opening hours on Saturday?",
    "Can I order a new debit card online?",
    "How long does a domestic transfer take?",
    "Where can I find my IBAN?",
    "How do I freeze my card in the app?",
    "Is there a fee for paying by card abroad?",
    "How do I update my postal address?",
    "Can I set up a standing order?",
)
TARGET_RATIO, TARGET_SLACK_MS = 1.2, 30.0


def _agent(args: argparse.Namespace) -> Any:
    from agentkit import Agent, AllowAll, EngineModel, LocalSafetyFilter, SamplingSettings
    from router import LayeredRouter, RuleRouter
    from tools import calculator

    return Agent(
        instructions="You are a concise banking support agent.",
        tools=[calculator],
        fast=EngineModel(),  # starts loading now, in the background
        router=LayeredRouter() if args.router == "layered" else RuleRouter(),
        safety=LocalSafetyFilter() if args.safety == "local" else AllowAll(),
        budget_ms=args.budget_ms,
        settings=SamplingSettings(max_tokens=args.max_tokens),
    )


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One fresh process: build, (start,) run every question once; the timings."""
    began = time.perf_counter()
    from agentkit import Runner

    agent = _agent(args)
    start_ms = 0.0
    if args.start:
        start_ms = Runner.start_sync(agent).total_ms
    ready_s = time.perf_counter() - began
    order = QUESTIONS[args.rotate :] + QUESTIONS[: args.rotate]
    turns = []
    for question in order[: args.turns]:
        result = Runner.run_sync(agent, question)
        turns.append(
            {
                "question": question,
                "outcome": result.outcome,
                "tier": result.tier,
                "elapsed_ms": round(result.elapsed_ms, 1),
                "warmup_ms": round(result.warmup_ms, 1),
                "model_ms": round(result.timings_ms.model, 1),
                "tokens": sum(u.usage.completion_tokens for u in result.usage.values()),
            }
        )
    return {"ready_s": round(ready_s, 2), "start_ms": start_ms, "turns": turns}


def summarise(run: dict[str, Any]) -> dict[str, Any]:
    """First turn against the median of the rest."""
    first, *rest = run["turns"]
    steady = statistics.median(t["elapsed_ms"] for t in rest)
    bound = TARGET_RATIO * steady + TARGET_SLACK_MS
    return {
        "first_ms": first["elapsed_ms"],
        "first_outcome": first["outcome"],
        "first_warmup_ms": first["warmup_ms"],
        "steady_ms": round(steady, 1),
        "ratio": round(first["elapsed_ms"] / steady, 3) if steady else None,
        "bound_ms": round(bound, 1),
        "within_target": first["elapsed_ms"] <= bound,
        "ready_s": run["ready_s"],
        "start_ms": run["start_ms"],
        "outcomes": [t["outcome"] for t in run["turns"]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--no-start", dest="start", action="store_false")
    parser.add_argument("--router", choices=("layered", "rule"), default="layered")
    parser.add_argument("--safety", choices=("local", "none"), default="local")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--budget-ms", type=float, default=1500.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rotate", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    passed = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--child"]
    runs = []
    for index in range(args.runs):
        command = [sys.executable, __file__, *passed, "--child", "--rotate", str(index)]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        run = json.loads(out.stdout.strip().splitlines()[-1])
        runs.append(run | {"summary": summarise(run)})
        print(json.dumps(runs[-1]["summary"]))
    if args.json is not None:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
