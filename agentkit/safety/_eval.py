"""Evaluation of routing and safety on labelled JSONL (the dev set's format).

Each row runs the production path: the input safety check, then ``route()``
with the verdict, timed together per call. The route a row *should* take comes
from its label: ``math``/``logic`` deep, ``unsafe`` flagged, everything else
(``routine``, ``safe_lookalike``, ``benign_web``) fast and unflagged.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from agentkit.safety._local import LocalSafetyFilter
from router import LayeredRouter, RouteContext
from router._harm import EMBEDDED

__all__ = [
    "RowOutcome",
    "average_precision",
    "calibration_error",
    "evaluate",
    "score_rows",
    "summarize",
]

_CLASSES = ("routine", "math", "logic", "unsafe")
_TRUE_CLASS = {"safe_lookalike": "routine", "benign_web": "routine"}


def average_precision(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """Area under the precision-recall curve (average precision, step-wise).

    Returns:
        AP in [0, 1], or None without any positive or any negative.
    """
    y = np.asarray(positives, dtype=bool)
    if y.size == 0 or y.all() or not y.any():
        return None
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    hits = y[order]
    precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float(precision[hits].sum() / hits.sum())


def _rate(values: list[bool]) -> float | None:
    return float(np.mean(values)) if values else None


def _predicted(flagged: bool, tier: str, scores: dict[str, float]) -> str:
    if flagged:
        return "unsafe"
    if tier == "deep":
        return "math" if scores.get("math", 0.0) >= scores.get("logic", 0.0) else "logic"
    return "routine"


def _per_class(pairs: list[tuple[str, str]]) -> dict[str, dict[str, float | int | None]]:
    out: dict[str, dict[str, float | int | None]] = {}
    for c in _CLASSES:
        tp = sum(1 for t, p in pairs if t == c and p == c)
        fp = sum(1 for t, p in pairs if t != c and p == c)
        fn = sum(1 for t, p in pairs if t == c and p != c)
        prec = tp / (tp + fp) if tp + fp else None
        rec = tp / (tp + fn) if tp + fn else None
        f1 = (
            2 * prec * rec / (prec + rec)
            if prec and rec
            else (0.0 if prec is not None and rec is not None else None)
        )
        out[c] = {"precision": prec, "recall": rec, "f1": f1, "support": tp + fn}
    return out


@dataclass(frozen=True)
class RowOutcome:
    """What the production path did with one labelled row.

    Attributes:
        label, source: the row's label and source.
        flagged: the input safety check flagged it.
        tier: the router's tier (``fast`` or ``deep``).
        predicted: the class the outcome stands for (``unsafe``, ``math``, ``logic``, ``routine``).
        latency_ms: as `evaluate` times it (safety + route, or safety alone).
        unsafe_score: the strongest moderation category score.
        math_score, logic_score: the router's ``math`` and ``logic`` scores.
        embedded: the harm second opinion ran the embedding layer on this row.
    """

    label: str
    source: str
    flagged: bool
    tier: str
    predicted: str
    latency_ms: float
    unsafe_score: float
    math_score: float = 0.0
    logic_score: float = 0.0
    embedded: bool = False


def score_rows(
    rows: Sequence[dict[str, Any]],
    *,
    mode: Literal["routing", "safety"] = "routing",
    router: LayeredRouter | None = None,
    safety: LocalSafetyFilter | None = None,
) -> list[RowOutcome]:
    """Run every row through safety and the router; one `RowOutcome` per row."""
    router = router or LayeredRouter()
    safety = safety or LocalSafetyFilter()
    # load excluded: the models load on first use, before any row is timed
    safety.warm()
    warm = safety.check_sync("warm-up", stage="input")
    router.route(RouteContext(message="warm-up", safety_scores=warm.categories))
    out = []
    for row in rows:
        text, label = str(row.get("text", "")), str(row.get("label", ""))
        embedded = EMBEDDED[0]
        start = time.perf_counter()
        verdict = safety.check_sync(text, stage="input")
        decision = router.route(
            RouteContext(message=text, flagged=verdict.flagged, safety_scores=verdict.categories)
        )
        ms = (time.perf_counter() - start) * 1e3 if mode == "routing" else verdict.latency_ms
        out.append(RowOutcome(
            label, str(row.get("source", "")), verdict.flagged, decision.tier,
            _predicted(verdict.flagged, decision.tier, dict(decision.scores)), ms,
            max(verdict.categories.values(), default=0.0),
            float(decision.scores.get("math", 0.0)), float(decision.scores.get("logic", 0.0)),
            EMBEDDED[0] > embedded,
        ))  # fmt: skip
    return out


def calibration_error(
    scores: Sequence[float], positives: Sequence[bool], bins: int = 10
) -> float | None:
    """Expected calibration error over ``bins`` equal-mass bins (None without rows).

    The rows are sorted by score and cut into bins of equal count; each bin adds
    its share of rows times |mean score - share of positives|.
    """
    if not scores:
        return None
    order = np.argsort(np.asarray(scores, dtype=np.float64), kind="mergesort")
    s = np.asarray(scores, dtype=np.float64)[order]
    y = np.asarray(positives, dtype=np.float64)[order]
    parts = zip(np.array_split(s, bins), np.array_split(y, bins), strict=True)
    return float(sum(len(a) * abs(a.mean() - b.mean()) for a, b in parts if len(a)) / len(s))


def summarize(outcomes: Sequence[RowOutcome], mode: str = "routing") -> dict[str, Any]:
    """The report of `evaluate` from per-row outcomes (see docs/routing.md for the fields)."""
    confusion: dict[str, Counter[str]] = {}
    for o in outcomes:
        confusion.setdefault(o.label, Counter())["flagged" if o.flagged else o.tier] += 1

    def rate(labels: tuple[str, ...], hit: Callable[[RowOutcome], bool]) -> float | None:
        return _rate([hit(o) for o in outcomes if o.label in labels])

    caught = lambda o: o.flagged or o.tier == "deep"  # noqa: E731
    moderated = [o for o in outcomes if o.label in ("unsafe", "benign_web", "safe_lookalike")]
    lat = np.asarray([o.latency_ms for o in outcomes]) if outcomes else None
    unsafe_ece = calibration_error(
        [o.unsafe_score for o in moderated], [o.label == "unsafe" for o in moderated]
    )
    return {
        "mode": mode,
        "rows": len(outcomes),
        "escalation_recall": rate(("math", "logic", "unsafe"), caught),
        "false_escalation_routine": rate(("routine",), caught),
        "xstest_false_flag": rate(("safe_lookalike",), lambda o: o.flagged),
        "moderation_auprc": average_precision(
            [o.unsafe_score for o in moderated], [o.label == "unsafe" for o in moderated]
        ),
        "latency_ms_p50": float(np.percentile(lat, 50)) if lat is not None else None,
        "latency_ms_p99": float(np.percentile(lat, 99)) if lat is not None else None,
        "per_class": _per_class(
            [(_TRUE_CLASS.get(o.label, o.label), o.predicted) for o in outcomes]
        ),
        "confusion": {k: dict(v) for k, v in sorted(confusion.items())},
        "benign_web_flagged": rate(("benign_web",), lambda o: o.flagged),
        "lookalike_deep": rate(("safe_lookalike",), caught),
        "second_opinion_embedded": _rate([o.embedded for o in outcomes]),
        "moderation_ece": unsafe_ece,
        "ece_per_head": {
            "unsafe": unsafe_ece,
            "math": calibration_error(
                [o.math_score for o in outcomes], [o.label == "math" for o in outcomes]
            ),
            "logic": calibration_error(
                [o.logic_score for o in outcomes], [o.label == "logic" for o in outcomes]
            ),
        },
    }


def evaluate(
    rows: Sequence[dict[str, Any]],
    *,
    mode: Literal["routing", "safety"] = "routing",
    router: LayeredRouter | None = None,
    safety: LocalSafetyFilter | None = None,
) -> dict[str, Any]:
    """Run every row through safety (and the router) and summarise.

    Args:
        rows: Objects with ``text`` and ``label`` (and ``source``).
        mode: ``routing`` times safety + router per call; ``safety`` times safety alone.
        router: The router (default `LayeredRouter()`).
        safety: The filter (default `LocalSafetyFilter()`).

    Returns:
        A JSON-ready report; see docs/routing.md for the fields.
    """
    return summarize(score_rows(rows, mode=mode, router=router, safety=safety), mode)
