"""Leave-one-source-out estimate: how the router and safety filter do on a source
they were not trained on (``agentkit eval routing|safety --loso``).

For each held-out source, the model is trained (and calibrated) on the other
sources plus the template rows (and so is the harm second opinion, `router._harm`,
at the shipped model's thresholds), then the whole path (safety check, route) is
evaluated on the held-out source's rows only. Holding out GSM8K or FOLIO leaves
the template rows as the only math or logic training data: a hard test of
whether the structural features carry the property. `loso` reports every
source's evaluation and, at the top level, the evaluation of all held-out rows
pooled: every row scored by a model that never saw its source. This is the
figure to quote; a random split's is not (docs/routing.md).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import structlog

__all__ = ["leave_one_source_out", "loso", "mean_macro_f1"]

_log = structlog.get_logger("agentkit.safety")
_REPORTED = (
    "rows",
    "escalation_recall",
    "false_escalation_routine",
    "xstest_false_flag",
    "moderation_auprc",
)


def _train_model(rows: list[dict[str, Any]], path: Path, seed: int, synth: bool = True) -> str:
    from router._synth import synth_examples
    from router._train import train

    model, _ = train(rows, seed=seed, extra=synth_examples(seed=seed) if synth else ())
    model.save(path)
    return str(path)


def _train_harm(rows: list[dict[str, Any]], path: Path, seed: int, synth: bool) -> str | None:
    """The harm second opinion fitted on ``rows``, at the shipped model's operating point.

    None (the layer off for this fold) when no harm model ships or the embedding
    layer cannot run. The thresholds come from the shipped model, chosen on
    out-of-source folds that included every source: two numbers, not weights.
    """
    from router._embed import EmbeddingLayer
    from router._harm import load_harm_model
    from router._harm_train import corpus, fit_harm
    from router._synth import synth_examples

    shipped, layer = load_harm_model(), EmbeddingLayer.shared()
    if shipped is None or layer is None:
        return None
    extra = synth_examples(seed=seed) if synth else []
    model = fit_harm(
        *corpus(rows, extra), layer.embed_corpus, shipped.gate_threshold, shipped.flag_threshold
    )
    model.save(path)
    return str(path)


def loso(
    rows: list[dict[str, Any]],
    sources: list[str] | None = None,
    *,
    mode: Literal["routing", "safety"] = "routing",
    seed: int = 0,
    synth: bool = True,
    progress: Callable[[str, dict[str, Any]], object] | None = None,
) -> dict[str, Any]:
    """Train without each source, score it; per-source reports and the pooled one.

    Args:
        rows: Labelled rows with a ``source``.
        sources: The sources to hold out, one at a time (default: every source).
        mode: As for `evaluate`: what the latency covers.
        seed: The training seed.
        synth: Train with the template rows (`router._synth`); False ablates them.
        progress: Called with each source and its report as it finishes.

    Returns:
        The pooled report (`evaluate`'s keys, over every held-out row) with
        ``loso`` True, ``sources`` and ``per_source`` (source -> its report).

    Raises:
        ValueError: a source to hold out has no rows.
    """
    from agentkit.safety._eval import score_rows, summarize
    from agentkit.safety._local import LocalSafetyFilter
    from router._layered import LayeredRouter
    from router._policy import RouterPolicy

    held_out = sources or sorted({str(r.get("source", "")) for r in rows})
    present = {str(r.get("source", "")) for r in rows}
    if missing := [s for s in held_out if s not in present]:
        raise ValueError(f"no rows from source(s) {missing}")
    per_source: dict[str, dict[str, Any]] = {}
    pooled: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in held_out:
            kept = [r for r in rows if r.get("source") != source]
            path = _train_model(kept, Path(tmp) / f"{len(per_source)}.npz", seed, synth)
            harm = _train_harm(kept, Path(tmp) / f"harm{len(per_source)}.npz", seed, synth)
            outcomes = score_rows(
                [r for r in rows if r.get("source") == source], mode=mode,
                router=LayeredRouter(RouterPolicy(model_path=path)),
                safety=LocalSafetyFilter(
                    model_path=path, second_opinion=harm is not None, harm_model_path=harm
                ),
            )  # fmt: skip
            pooled += outcomes
            per_source[source] = summarize(outcomes, mode)
            _log.info("loso_source_done", source=source, rows=len(outcomes))
            if progress:
                progress(source, per_source[source])
    return {
        **summarize(pooled, mode), "loso": True, "synth": synth, "sources": held_out,
        "per_source": per_source, "mean_macro_f1": mean_macro_f1(per_source),
    }  # fmt: skip


def mean_macro_f1(per_source: dict[str, dict[str, Any]]) -> float | None:
    """Mean over sources of each source's macro-F1 (over the classes its rows hold).

    A class with rows but no prediction scores F1 0. This is the figure an ablation
    compares (issue 15: a rule family stays if removing it costs >= 0.01).
    """
    scores = []
    for report in per_source.values():
        f1s = [m["f1"] or 0.0 for m in report["per_class"].values() if m["support"]]
        if f1s:
            scores.append(sum(f1s) / len(f1s))
    return sum(scores) / len(scores) if scores else None


def leave_one_source_out(
    rows: list[dict[str, Any]], sources: list[str], seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Per held-out source, the main figures of a model trained without it (`loso`)."""
    report = loso(rows, sources, seed=seed)
    return {s: {k: r[k] for k in _REPORTED} for s, r in report["per_source"].items()}
