"""``agentkit eval routing|safety --data FILE --json OUT``: score the router and the safety step."""

from __future__ import annotations

import argparse
from typing import Any

from agentkit.cli._eval_answers import add_arguments as add_answer_arguments
from agentkit.cli._eval_answers import run_answers

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``eval`` command."""
    parser = subparsers.add_parser("eval", help="evaluate routing or safety on labelled JSONL")
    parser.add_argument("target", choices=("routing", "safety", "answers"), help="what to evaluate")
    parser.add_argument("--data", default=None, help="JSONL rows with 'text' and 'label'")
    parser.add_argument("--json", dest="json_out", default=None, help="write the report here")
    parser.add_argument("--model", default=None, help="router model file (default: bundled)")
    add_answer_arguments(parser)  # `eval answers` (agentkit.cli._eval_answers)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.target == "answers":
        return run_answers(args)
    from rich.console import Console
    from rich.table import Table

    from agentkit.cli._common import write_json
    from agentkit.safety._eval import evaluate
    from agentkit.safety._local import LocalSafetyFilter
    from router import LayeredRouter, RouterPolicy
    from router._train import load_jsonl

    console = Console()
    if not args.data:
        console.print(f"[red]eval {args.target}: --data is required[/red]")
        return 2
    try:
        rows = load_jsonl(args.data)
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot read {args.data}: {exc}[/red]")
        return 2
    report = evaluate(
        rows,
        mode=args.target,
        router=LayeredRouter(RouterPolicy(model_path=args.model)),
        safety=LocalSafetyFilter(model_path=args.model),
    )
    if args.json_out:
        write_json(args.json_out, report)
    summary = Table(title=f"{args.target} on {args.data} ({report['rows']} rows)")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for key in (
        "escalation_recall",
        "false_escalation_routine",
        "xstest_false_flag",
        "moderation_auprc",
        "latency_ms_p50",
        "latency_ms_p99",
    ):
        value = report[key]
        summary.add_row(key, "n/a" if value is None else f"{value:.3f}")
    console.print(summary)
    classes = Table(title="per class (route the row should take)")
    for col in ("class", "precision", "recall", "f1", "support"):
        classes.add_column(col, justify="right")
    for name, m in report["per_class"].items():
        classes.add_row(
            name,
            *(("n/a" if m[k] is None else f"{m[k]:.3f}") for k in ("precision", "recall", "f1")),
            str(m["support"]),
        )
    console.print(classes)
    confusion = Table(title="confusion: label -> outcome")
    for col in ("label", "fast", "deep", "flagged"):
        confusion.add_column(col, justify="right")
    for label, counts in report["confusion"].items():
        confusion.add_row(label, *(str(counts.get(k, 0)) for k in ("fast", "deep", "flagged")))
    console.print(confusion)
    return 0
