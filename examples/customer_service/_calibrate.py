"""Calibrate the fast tier's quote confidence on the answer dev set (docs/answers.md).

``python -m examples.customer_service._calibrate [--json OUT] [--png OUT]``: the
quote of every dev-set question (answerable, and the unanswerable ones, whose
right answer is no answer) scored against its facts, then released accuracy
and escalation rate for each threshold. No model runs: a quote's text and
confidence come from the grounding alone, exactly as the fast tier computes them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from agentkit.evals import CurvePoint, answer_holds, calibration_curve, read_answer_rows
from examples.customer_service._agent import EVAL_DATA, grounding
from examples.customer_service._tiers import MIN_QUOTE_SCORE

__all__ = ["main", "quote_points"]

UNANSWERABLE = EVAL_DATA.parent / "answers_unanswerable.jsonl"
THRESHOLDS = [round(0.5 + 0.025 * i, 3) for i in range(33)]  # 0.5 .. 1.3


def quote_points() -> list[tuple[float | None, bool]]:
    """``(confidence, right)`` of the quote for every dev-set row (unanswerable: never right)."""
    retrieval = grounding()
    points: list[tuple[float | None, bool]] = []
    for path, answerable in ((EVAL_DATA, True), (UNANSWERABLE, False)):
        for row in read_answer_rows(path):
            found = retrieval.extract(row.question)
            if found is None:
                points.append((None, False))
                continue
            points.append((found.score, answerable and answer_holds(found.text, row.facts)))
    return points


def _plot(curve: Sequence[CurvePoint], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [p.escalation_rate for p in curve if p.released_accuracy is not None]
    ys = [p.released_accuracy for p in curve if p.released_accuracy is not None]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, ys, marker="o", markersize=3)
    chosen = next(p for p in curve if p.threshold >= MIN_QUOTE_SCORE)
    ax.annotate(
        f"threshold {chosen.threshold:g}",
        (chosen.escalation_rate, chosen.released_accuracy or 0.0),
        textcoords="offset points",
        xytext=(10, -15),
    )
    ax.axhline(0.95, linestyle="--", linewidth=0.8, color="grey")
    ax.set_xlabel("escalation rate (no quote released)")
    ax.set_ylabel("accuracy of released quotes")
    ax.set_title("Quote confidence threshold, customer-service dev set (76 rows)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the curve; optionally write it as JSON and a PNG plot."""
    parser = argparse.ArgumentParser(prog="python -m examples.customer_service._calibrate")
    parser.add_argument("--json", default=None)
    parser.add_argument("--png", default=None)
    args = parser.parse_args(argv)
    curve = calibration_curve(quote_points(), THRESHOLDS)
    for p in curve:
        print(
            f"{p.threshold:5.3f}  released {p.released:3d}  accuracy {p.released_accuracy}  "
            f"escalation {p.escalation_rate:.3f}  coverage {p.coverage:.3f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps([p.model_dump() for p in curve], indent=1))
    if args.png:
        _plot(curve, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
