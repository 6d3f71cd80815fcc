"""``agentkit eval answers --example trading_signals``: are the released signals right?

Rows are headlines labelled from their facts (``{"id", "instrument", "text",
"direction"}``, direction ``long``/``short``/``flat``; ``neutral`` reads as
``flat``). A signal is *released* when the fast tier took a position (``long``
or ``short``, status ``ok``): what a trader would act on. ``flat`` is the
honest "no position"; an escalation to the deep tier is not a fast signal.
The report's ``collapsed`` flag catches a fast tier stuck on one direction
(every headline ``long``): that is a bug, not a result.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from agentkit.bench.stats import percentile
from agentkit.evals import EvalDataError
from examples.trading_signals._signals import Headline, SignalAgent, SignalResult

__all__ = [
    "EVAL_DATA",
    "DirectionReport",
    "LabelledHeadline",
    "evaluate_example",
    "evaluate_signals",
    "read_labelled",
    "score_signals",
]

EVAL_DATA = Path(__file__).parent / "eval" / "signals_dev.jsonl"
"""The direction dev set (40 headlines); ``signals_train.jsonl`` trains the classifier."""

Direction = Literal["long", "short", "flat"]
_COLLAPSE_SHARE = 0.9  # one direction in this share of the positions taken is a collapse
_COLLAPSE_MIN = 5  # ... once at least this many positions were taken


class LabelledHeadline(Headline):
    """A headline with the direction its facts call for."""

    direction: Direction

    @field_validator("direction", mode="before")
    @classmethod
    def _neutral_is_flat(cls, value: object) -> object:
        return "flat" if value == "neutral" else value


class DirectionRow(BaseModel):
    """One headline's signal against its label."""

    id: str
    text: str
    label: Direction
    direction: Direction | None
    tier: str | None
    status: str
    confidence: float | None
    released: bool
    right: bool
    rationale: str = ""
    latency_ms: float = 0.0


class DirectionReport(BaseModel):
    """Direction scores (``--json``)."""

    rows: int
    accuracy: float
    released: int
    released_accuracy: float | None
    coverage: float
    abstained: int
    positions: dict[str, int]
    collapsed: bool
    latency_ms_p50: float
    latency_ms_p99: float
    statuses: dict[str, int]
    tiers: dict[str, int]
    failing: list[DirectionRow]
    results: list[DirectionRow] = Field(default_factory=list)


def read_labelled(path: str | Path) -> list[LabelledHeadline]:
    """Labelled headlines of a JSONL file.

    Raises:
        EvalDataError: Unreadable file or a line that is not a labelled headline.
    """
    rows = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvalDataError(str(path), 0, f"cannot read: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                rows.append(LabelledHeadline.model_validate_json(line))
            except ValueError as exc:
                raise EvalDataError(str(path), number, str(exc).splitlines()[0]) from exc
    if not rows:
        raise EvalDataError(str(path), 0, "no rows")
    return rows


def _row(label: LabelledHeadline, result: SignalResult) -> DirectionRow:
    signal = result.signal
    direction = signal.direction if signal is not None else None
    released = result.tier == "fast" and result.status == "ok" and direction in ("long", "short")
    return DirectionRow(
        id=label.id,
        text=label.text,
        label=label.direction,
        direction=direction,
        tier=result.tier,
        status=result.status,
        confidence=signal.confidence if signal is not None else None,
        released=released,
        right=direction == label.direction,
        rationale=signal.rationale if signal is not None else "",
        latency_ms=round(result.latency_ms, 2),
    )


def score_signals(rows: Sequence[DirectionRow]) -> DirectionReport:
    """Aggregate rows: accuracy, released accuracy, positions taken, collapse."""
    n = len(rows)
    released = [r for r in rows if r.released]
    positions: Counter[str] = Counter(r.direction or "none" for r in released)
    collapsed = len(released) >= _COLLAPSE_MIN and max(positions.values()) >= _COLLAPSE_SHARE * len(
        released
    )
    latencies = [r.latency_ms for r in rows]
    good = sum(r.right for r in released)
    return DirectionReport(
        rows=n,
        accuracy=round(sum(r.right for r in rows) / n, 4),
        released=len(released),
        released_accuracy=round(good / len(released), 4) if released else None,
        coverage=round(good / n, 4),
        abstained=n - len(released),
        positions=dict(positions),
        collapsed=collapsed,
        latency_ms_p50=round(percentile(latencies, 50), 2),
        latency_ms_p99=round(percentile(latencies, 99), 2),
        statuses=dict(Counter(r.status for r in rows)),
        tiers=dict(Counter(r.tier or "none" for r in rows)),
        failing=[r for r in rows if not r.right],
        results=list(rows),
    )


async def evaluate_signals(agent: SignalAgent, rows: Sequence[LabelledHeadline]) -> DirectionReport:
    """Run every labelled headline through ``agent`` and score the directions."""
    scored = []
    for label in rows:
        result = await agent.process(Headline.model_validate(label.model_dump()))
        scored.append(_row(label, result))
    return score_signals(scored)


def evaluate_example(args: argparse.Namespace) -> int:
    """The ``eval answers --example trading_signals`` command (see `agentkit.cli`)."""
    import anyio
    from rich.console import Console

    from examples.customer_service._agent import default_deep
    from examples.trading_signals._direction import DirectionClassifier, SignalFastModel

    console = Console()
    paths = [args.data] if isinstance(args.data, str) else list(args.data or [EVAL_DATA])
    try:
        rows = [row for path in paths for row in read_labelled(path)]
    except EvalDataError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    agent = SignalAgent(SignalFastModel(DirectionClassifier.from_file()), default_deep())

    async def main() -> DirectionReport:
        await agent.start()
        return await evaluate_signals(agent, rows)

    start = time.perf_counter()
    report = anyio.run(main)
    if args.json_out:
        Path(args.json_out).write_text(report.model_dump_json(indent=1), encoding="utf-8")
    _print(console, report, time.perf_counter() - start)
    return 0


def _print(console: Any, report: DirectionReport, seconds: float) -> None:
    console.print(
        f"{report.rows} headlines in {seconds:.1f} s: accuracy {report.accuracy:.3f}, "
        f"released {report.released} (accuracy {report.released_accuracy}), "
        f"coverage {report.coverage:.3f}, positions {report.positions}, "
        f"p50 {report.latency_ms_p50:.0f} ms, statuses {report.statuses}, tiers {report.tiers}",
        highlight=False,
    )
    if report.collapsed:
        console.print("[red]COLLAPSED: the fast tier takes one direction for everything[/red]")
    for r in report.failing:
        console.print(
            f"[red]x[/red] {r.id} {r.label:>5} -> {r.direction} ({r.tier}, {r.status}, "
            f"{r.confidence}) {r.text[:70]!r}",
            highlight=False,
        )
