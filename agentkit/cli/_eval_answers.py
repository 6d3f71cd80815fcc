"""``agentkit eval answers [--data FILE] [--json OUT] [--example NAME]``: score answers.

Runs the example's agent (``examples.NAME.build_agent()``, as users get it) over
labelled questions, one turn each, and reports accuracy, what the fast tier
released and how often it was right, latency and the failing rows
(`agentkit.evals`). Without ``--data`` the example's own dev set is used.
An example may also expose ``passage_keys(question, k)``: its retrieval is then
scored apart (recall@1, recall@3), and ``evaluate_example(args)``: its own
evaluation replaces the generic one (the trading-signal example scores
directions, not facts).
"""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run_answers"]

EXAMPLES = ("customer_service", "trading_signals")
_SUMMARY = (
    "accuracy",
    "released_accuracy",
    "fast_coverage",
    "escalation_rate",
    "latency_ms_p50",
    "latency_ms_p99",
    "fast_latency_ms_p50",
    "check_ms_p50",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``eval answers`` adds to the ``eval`` command."""
    parser.add_argument(
        "--example",
        choices=EXAMPLES,
        default="customer_service",
        help="answers: the example whose agent answers (default customer_service)",
    )


def _data(args: argparse.Namespace, module: Any) -> list[str]:
    if args.data:  # one path, or several (``nargs="+"``)
        return [args.data] if isinstance(args.data, str) else list(args.data)
    default = getattr(module, "EVAL_DATA", None)
    return [str(default)] if default is not None else []


def run_answers(args: argparse.Namespace) -> int:
    """Run the evaluation; 0 when it ran, 2 for unreadable data."""
    from rich.console import Console

    from agentkit.evals import EvalDataError, read_answer_rows

    console = Console()
    module = importlib.import_module(f"examples.{args.example}")
    custom = getattr(module, "evaluate_example", None)
    if callable(custom):
        code: int = custom(args)
        return code
    paths = _data(args, module)
    if not paths:
        console.print(f"[red]--data is required: examples.{args.example} has no dev set[/red]")
        return 2
    try:
        rows = [row for path in paths for row in read_answer_rows(path)]
    except EvalDataError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    return _evaluate(args, module, rows, console, paths)


def _evaluate(
    args: argparse.Namespace, module: Any, rows: list[Any], console: Any, paths: list[str]
) -> int:
    import anyio

    from agentkit import Runner
    from agentkit.cli._common import write_json
    from agentkit.evals import evaluate_answers, retrieval_recall

    deep = [k for k in os.environ if k.startswith("AGENTKIT_DEEP_")]
    agent = module.build_agent()
    console.print(
        f"{len(rows)} rows from {', '.join(Path(p).name for p in paths)}; "
        f"deep tier: {agent.deep.name if agent.deep else 'none'}"
        + (f" (set: {', '.join(sorted(deep))})" if deep else "")
    )

    async def main() -> Any:
        await Runner.start(agent)  # loading models and indexes is no turn's latency
        return await evaluate_answers(agent, rows, on_row=lambda r: _progress(console, r))

    report = anyio.run(main)
    keys = getattr(module, "passage_keys", None)
    if callable(keys):
        report.retrieval = retrieval_recall(rows, keys)
    if args.json_out:
        write_json(args.json_out, report.model_dump(mode="json"))
    if getattr(args, "rows_out", None):
        Path(args.rows_out).write_text(
            "".join(r.model_dump_json() + "\n" for r in report.results), encoding="utf-8"
        )
    _print(console, report)
    return 0


def _progress(console: Any, row: Any) -> None:
    mark = "[green]right[/green]" if row.right else "[red]wrong[/red]"
    console.print(
        f"{row.id:>6} {mark} {row.tier or '-':>4} {row.outcome:<15} {row.elapsed_ms:7.0f} ms  "
        f"{row.text[:70]!r}",
        highlight=False,
    )


def _print(console: Any, report: Any) -> None:
    from rich.table import Table

    table = Table(title=f"answers ({report.rows} rows, {report.released} released by fast)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in _SUMMARY:
        value = getattr(report, key)
        table.add_row(key, "n/a" if value is None else f"{value:.3f}")
    for key, value in (report.retrieval or {}).items():
        table.add_row(f"retrieval {key}", f"{value:.3f}")
    table.add_row("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items())))
    table.add_row("tiers", ", ".join(f"{k} {v}" for k, v in sorted(report.tiers.items())))
    console.print(table)
    for row in report.failing:
        console.print(
            f"[red]x[/red] {row.id}: {row.question!r} -> {row.text[:100]!r} "
            f"({row.tier}, {row.outcome}; missing {row.missing})",
            highlight=False,
        )
