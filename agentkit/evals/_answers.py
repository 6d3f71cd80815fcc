"""Answer quality: run an agent over labelled questions and score what users would see.

A row is ``{"question": ..., "facts": [["500"], ["EUR", "euro"]]}``: the answer
is right when every inner list has at least one of its spellings in the
answer text, case-insensitive and at word boundaries, numbers normalised on
both sides first (`agentkit._numbers`: "15 000" = "15,000" = "15000", "five" =
"5"). A question the knowledge base cannot answer lists the phrases of an
honest decline as its one fact.

The report separates what the fast tier released (tier ``fast``, outcome
``ok``: what the user sees from it) from everything else (an escalation, the
holding reply), because a wrong released answer is the failure that matters:

- ``accuracy``: right answers over all rows, whatever tier or outcome;
- ``released_accuracy``: right among the fast tier's released answers;
- ``fast_coverage``: rows the fast tier answered right, over all rows.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentkit._agent import Agent
from agentkit._errors import EvalDataError
from agentkit._numbers import holds
from agentkit._result import TurnResult
from agentkit._runner import Runner
from agentkit.bench.stats import percentile

__all__ = [
    "AnswerReport",
    "AnswerRow",
    "CurvePoint",
    "EvalDataError",
    "RowResult",
    "answer_holds",
    "calibration_curve",
    "evaluate_answers",
    "missing_facts",
    "read_answer_rows",
    "retrieval_recall",
    "score_answers",
]


class AnswerRow(BaseModel):
    """One labelled question.

    Attributes:
        id: A name for reports (default: the line number).
        question: What the user asks.
        facts: Groups of spellings; a right answer holds one spelling of every group.
        passage: The ``source#heading`` of the passage that answers (for retrieval
            recall); None when no passage does.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = ""
    question: str
    facts: tuple[tuple[str, ...], ...] = Field(min_length=1)
    passage: str | None = None


class RowResult(BaseModel):
    """How the agent did on one row."""

    id: str
    question: str
    text: str
    outcome: str
    tier: str | None
    right: bool
    missing: list[list[str]] = Field(default_factory=list)
    elapsed_ms: float = 0.0
    check_ms: float | None = None
    confidence: float | None = None
    check: dict[str, Any] | None = None

    @property
    def released(self) -> bool:
        """Whether the fast tier released this answer as it is (tier fast, outcome ok)."""
        return self.tier == "fast" and self.outcome == "ok"


class AnswerReport(BaseModel):
    """The scores of one evaluation run (``agentkit eval answers --json``)."""

    rows: int
    accuracy: float
    released: int
    released_accuracy: float | None
    fast_coverage: float
    escalation_rate: float
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    fast_latency_ms_p50: float | None
    check_ms_p50: float | None
    outcomes: dict[str, int]
    tiers: dict[str, int]
    failing: list[RowResult]
    retrieval: dict[str, float] | None = None
    results: list[RowResult] = Field(default_factory=list)


def missing_facts(text: str, facts: Sequence[Sequence[str]]) -> list[list[str]]:
    """The fact groups none of whose spellings ``text`` holds (empty: the answer is right)."""
    return [list(group) for group in facts if not any(holds(text, s) for s in group)]


def answer_holds(text: str, facts: Sequence[Sequence[str]]) -> bool:
    """Whether ``text`` holds one spelling of every fact group.

    Example:
        >>> answer_holds("The limit is 500 euros a day.", [["500"], ["EUR", "euro", "euros"]])
        True
        >>> answer_holds("The limit is 5,000 EUR.", [["500"]])
        False
    """
    return not missing_facts(text, facts)


def read_answer_rows(path: str | Path) -> list[AnswerRow]:
    """The rows of a JSONL file (blank lines skipped; ids default to ``line N``).

    Raises:
        EvalDataError: The file cannot be read, a line is not JSON, or a row lacks
            a question or its facts.
    """
    name = str(path)
    try:
        # "\n" only: splitlines() would also cut at U+2028 inside a JSON string.
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalDataError(name, 0, f"cannot read: {exc}") from exc
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = AnswerRow.model_validate(json.loads(line))
        except (ValueError, ValidationError) as exc:
            raise EvalDataError(name, number, str(exc).splitlines()[0]) from exc
        rows.append(row if row.id else row.model_copy(update={"id": f"line {number}"}))
    if not rows:
        raise EvalDataError(name, 0, "no rows")
    return rows


def _row_result(
    row: AnswerRow, result: TurnResult, confidence: Callable[[TurnResult], float | None]
) -> RowResult:
    check = getattr(result, "check", None)
    missing = missing_facts(result.text, row.facts)
    return RowResult(
        id=row.id,
        question=row.question,
        text=result.text,
        outcome=result.outcome,
        tier=result.tier,
        right=not missing,
        missing=missing,
        elapsed_ms=round(result.elapsed_ms, 2),
        check_ms=getattr(check, "elapsed_ms", None),
        confidence=confidence(result),
        check=check.model_dump(mode="json") if isinstance(check, BaseModel) else None,
    )


def _no_confidence(result: TurnResult) -> float | None:
    check = getattr(result, "check", None)
    value = getattr(check, "confidence", None)
    return float(value) if isinstance(value, int | float) else None


async def evaluate_answers(
    agent: Agent,
    rows: Sequence[AnswerRow],
    *,
    confidence: Callable[[TurnResult], float | None] = _no_confidence,
    on_row: Callable[[RowResult], None] | None = None,
) -> AnswerReport:
    """Ask ``agent`` every row's question (one turn each, no session) and score the answers.

    Args:
        agent: The agent, as users get it.
        rows: The labelled questions.
        confidence: The answer's confidence for calibration (default: the
            answer check's, when the turn reports one).
        on_row: Called after each row (progress output).

    Returns:
        The report (`score_answers` of the row results).
    """
    results = []
    for row in rows:
        result = await Runner.run(agent, row.question)
        scored = _row_result(row, result, confidence)
        results.append(scored)
        if on_row is not None:
            on_row(scored)
    return score_answers(results)


def _p(values: Sequence[float], q: float) -> float | None:
    return round(percentile(values, q), 2) if values else None


def score_answers(results: Sequence[RowResult]) -> AnswerReport:
    """Aggregate row results into the report's rates, latencies and counts.

    Raises:
        EvalDataError: ``results`` is empty (no rate is defined).
    """
    if not results:
        raise EvalDataError("<results>", 0, "no rows to score")
    n = len(results)
    released = [r for r in results if r.released]
    fast_right = sum(r.right for r in released)
    checks = [r.check_ms for r in results if r.check_ms is not None]
    return AnswerReport(
        rows=n,
        accuracy=round(sum(r.right for r in results) / n, 4),
        released=len(released),
        released_accuracy=round(fast_right / len(released), 4) if released else None,
        fast_coverage=round(fast_right / n, 4),
        escalation_rate=round(1 - len(released) / n, 4),
        latency_ms_p50=_p([r.elapsed_ms for r in results], 50),
        latency_ms_p99=_p([r.elapsed_ms for r in results], 99),
        fast_latency_ms_p50=_p([r.elapsed_ms for r in released], 50),
        check_ms_p50=_p(checks, 50),
        outcomes=dict(Counter(r.outcome for r in results)),
        tiers=dict(Counter(r.tier or "none" for r in results)),
        failing=[r for r in results if not r.right],
        results=list(results),
    )


def retrieval_recall(
    rows: Sequence[AnswerRow],
    search: Callable[[str, int], Sequence[str]],
    ks: Sequence[int] = (1, 3),
) -> dict[str, float]:
    """Recall@k of a retriever on the rows that name their passage (``source#heading``).

    Measured apart from answer accuracy: a wrong answer over the right passage
    is the generator's fault, a wrong passage the retriever's.

    Args:
        rows: Labelled rows; those without ``passage`` are skipped.
        search: ``search(question, k)`` → passage keys, best first.
        ks: The cut-offs.

    Returns:
        ``{"recall@1": ..., "recall@3": ..., "rows": n, "ms_per_query": ...}``
        (empty when no row names a passage).
    """
    labelled = [r for r in rows if r.passage]
    if not labelled:
        return {}
    top = max(ks)
    hits = dict.fromkeys(ks, 0)
    start = time.perf_counter()
    for row in labelled:
        found = list(search(row.question, top))
        for k in ks:
            hits[k] += row.passage in found[:k]
    elapsed = (time.perf_counter() - start) * 1000.0
    report: dict[str, float] = {f"recall@{k}": round(hits[k] / len(labelled), 4) for k in ks}
    report["rows"] = float(len(labelled))
    report["ms_per_query"] = round(elapsed / len(labelled), 3)
    return report


class CurvePoint(BaseModel):
    """One threshold of a confidence calibration (`calibration_curve`)."""

    threshold: float
    released: int
    released_accuracy: float | None
    escalation_rate: float
    coverage: float


def calibration_curve(
    points: Sequence[tuple[float | None, bool]], thresholds: Sequence[float]
) -> list[CurvePoint]:
    """Released accuracy against escalation rate as the confidence threshold moves.

    An answer is released when its confidence reaches the threshold (None: never
    released, as an answer with no confidence); the rest escalate.

    Args:
        points: ``(confidence, right)`` per row.
        thresholds: The thresholds to try.

    Returns:
        One point per threshold: how many released, how many of those were right,
        the escalation rate, and coverage (right and released, over all rows).

    Example:
        >>> curve = calibration_curve([(0.9, True), (0.5, False)], [0.4, 0.8])
        >>> [(p.released_accuracy, p.escalation_rate) for p in curve]
        [(0.5, 0.0), (1.0, 0.5)]
    """
    n = len(points)
    if n == 0:
        raise EvalDataError("<points>", 0, "no rows to calibrate on")
    curve = []
    for t in thresholds:
        released = [right for score, right in points if score is not None and score >= t]
        good = sum(released)
        curve.append(
            CurvePoint(
                threshold=round(t, 4),
                released=len(released),
                released_accuracy=round(good / len(released), 4) if released else None,
                escalation_rate=round(1 - len(released) / n, 4),
                coverage=round(good / n, 4),
            )
        )
    return curve
