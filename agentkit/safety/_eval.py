"""Evaluation of routing and safety on labelled JSONL (the dev set's format).

Each row runs the production path: the input safety check, then ``route()``
with the verdict, timed together per call. The route a row *should* take comes
from its label: ``math``/``logic`` deep, ``unsafe`` flagged, everything else
(``routine``, ``safe_lookalike``, ``benign_web``) fast and unflagged.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from agentkit.safety._local import LocalSafetyFilter
from router import LayeredRouter, RouteContext

__all__ = ["average_precision", "evaluate"]

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


def evaluate(
    rows: Sequence[dict[str, Any]],
    *,
    mode: Literal["routing", "safety"] = "routing",
    router: LayeredRouter | None = None,
    safety: LocalSafetyFilter | None = None,
) -> dict[str, Any]:
    """Run every row through safety (and the router) and summarise.

    Args:
        rows: Objects with ``text`` and ``label``.
        mode: ``routing`` times safety + router per call; ``safety`` times safety alone.
        router: The router (default `LayeredRouter()`).
        safety: The filter (default `LocalSafetyFilter()`).

    Returns:
        A JSON-ready report; see docs/routing.md for the fields.
    """
    router = router or LayeredRouter()
    safety = safety or LocalSafetyFilter()
    latencies, pairs, unsafe_scores, unsafe_truth = [], [], [], []
    escalated: list[bool] = []
    false_esc: list[bool] = []
    xstest: list[bool] = []
    confusion: dict[str, Counter[str]] = {}
    for row in rows:
        text, label = str(row.get("text", "")), str(row.get("label", ""))
        start = time.perf_counter()
        verdict = safety.check_sync(text, stage="input")
        decision = router.route(
            RouteContext(message=text, flagged=verdict.flagged, safety_scores=verdict.categories)
        )
        if mode == "routing":
            latencies.append((time.perf_counter() - start) * 1e3)
        else:
            latencies.append(verdict.latency_ms)
        deep = decision.tier == "deep"
        outcome = "flagged" if verdict.flagged else decision.tier
        confusion.setdefault(label, Counter())[outcome] += 1
        pairs.append(
            (
                _TRUE_CLASS.get(label, label),
                _predicted(verdict.flagged, decision.tier, dict(decision.scores)),
            )
        )
        if label in ("math", "logic", "unsafe"):
            escalated.append(deep or verdict.flagged)
        if label == "routine":
            false_esc.append(deep or verdict.flagged)
        if label == "safe_lookalike":
            xstest.append(verdict.flagged)
        if label in ("unsafe", "benign_web", "safe_lookalike"):
            unsafe_scores.append(max(verdict.categories.values(), default=0.0))
            unsafe_truth.append(label == "unsafe")
    lat = np.asarray(latencies) if latencies else None
    return {
        "mode": mode,
        "rows": len(rows),
        "escalation_recall": _rate(escalated),
        "false_escalation_routine": _rate(false_esc),
        "xstest_false_flag": _rate(xstest),
        "moderation_auprc": average_precision(unsafe_scores, unsafe_truth),
        "latency_ms_p50": float(np.percentile(lat, 50)) if lat is not None else None,
        "latency_ms_p99": float(np.percentile(lat, 99)) if lat is not None else None,
        "per_class": _per_class(pairs),
        "confusion": {k: dict(v) for k, v in sorted(confusion.items())},
    }
