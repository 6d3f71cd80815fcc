"""``agentkit eval routing|safety --data PATH... [--loso] --json OUT``: score the router and safety.

``--data`` takes JSONL files and folders of them (every ``*.jsonl`` inside).
``--loso`` retrains the shipped model architecture without each source and
scores that source with it (`agentkit.safety._crossval.loso`): the per-source
rows and the pooled report, the figure to quote. It costs one training run per
source (about 6.5 minutes each on the full corpus on 2 cores).
"""

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
    parser.add_argument(
        "--data", nargs="+", default=None, help="JSONL files or folders (rows with 'text', 'label')"
    )
    parser.add_argument(
        "--loso", action="store_true", help="leave one source out: retrain without each, score it"
    )
    parser.add_argument(
        "--sources", default=None, help="--loso: comma-separated sources to hold out"
    )
    parser.add_argument(
        "--no-synth", action="store_true", help="--loso: train without the template rows (ablation)"
    )
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
    from router._train import load_rows

    console = Console()
    if not args.data:
        console.print(f"[red]eval {args.target}: --data is required[/red]")
        return 2
    try:
        rows = load_rows(args.data)
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot read {' '.join(args.data)}: {exc}[/red]")
        return 2
    if args.loso:
        report = _loso(args, rows, console)
        if report is None:
            return 2
    else:
        report = evaluate(
            rows,
            mode=args.target,
            router=LayeredRouter(RouterPolicy(model_path=args.model)),
            safety=LocalSafetyFilter(model_path=args.model),
        )
    if args.json_out:
        write_json(args.json_out, report)
    what = "leave-one-source-out, pooled" if args.loso else "on"
    summary = Table(title=f"{args.target} {what} {' '.join(args.data)} ({report['rows']} rows)")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for key in (
        "escalation_recall",
        "false_escalation_routine",
        "xstest_false_flag",
        "moderation_auprc",
        "latency_ms_p50",
        "latency_ms_p99",
        "benign_web_flagged",
        "lookalike_deep",
        "moderation_ece",
        "second_opinion_embedded",
    ):
        value = report[key]
        summary.add_row(key, "n/a" if value is None else f"{value:.3f}")
    for head, value in report["ece_per_head"].items():
        summary.add_row(f"ece {head}", "n/a" if value is None else f"{value:.3f}")
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


def _loso(
    args: argparse.Namespace, rows: list[dict[str, Any]], console: Any
) -> dict[str, Any] | None:
    """Run `loso` with a line per finished source; None (after a message) on bad sources."""
    from agentkit.safety._crossval import loso

    sources = args.sources.split(",") if args.sources else None

    def done(source: str, rep: dict[str, Any]) -> None:
        keys = ("rows", "escalation_recall", "false_escalation_routine", "benign_web_flagged",
                "lookalike_deep")  # fmt: skip
        cells = ", ".join(f"{k}={_cell(rep[k])}" for k in keys)
        console.print(f"held out {source}: {cells}")

    try:
        return loso(rows, sources, mode=args.target, synth=not args.no_synth, progress=done)
    except ValueError as exc:
        console.print(f"[red]eval {args.target} --loso: {exc}[/red]")
        return None


def _cell(value: object) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
