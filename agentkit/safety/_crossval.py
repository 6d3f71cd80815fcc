"""Leave-one-source-out estimate: how the router and safety filter do on a source
they were not trained on (``agentkit router crossval --data dev.jsonl``).

For each held-out source, the model is trained (and calibrated) on the other
sources plus the template rows, then the whole path (safety check, route) is
evaluated on the held-out source's rows only. Holding out GSM8K or FOLIO leaves
the template rows as the only math or logic training data: a hard test of
whether the structural features carry the property.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import structlog

__all__ = ["leave_one_source_out"]

_log = structlog.get_logger("agentkit.safety")
_REPORTED = (
    "rows",
    "escalation_recall",
    "false_escalation_routine",
    "xstest_false_flag",
    "moderation_auprc",
)


def _train_model(rows: list[dict[str, Any]], path: Path, seed: int) -> str:
    from router._synth import synth_examples
    from router._train import train

    model, _ = train(rows, seed=seed, extra=synth_examples(seed=seed))
    model.save(path)
    return str(path)


def leave_one_source_out(
    rows: list[dict[str, Any]], sources: list[str], seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Per held-out source, the evaluation report of a model trained without it."""
    from agentkit.safety._eval import evaluate
    from agentkit.safety._local import LocalSafetyFilter
    from router._layered import LayeredRouter
    from router._policy import RouterPolicy

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for source in sources:
            kept = [r for r in rows if r.get("source") != source]
            held = [r for r in rows if r.get("source") == source]
            path = _train_model(kept, Path(tmp) / f"{source}.npz", seed)
            report = evaluate(
                held,
                router=LayeredRouter(RouterPolicy(model_path=path)),
                safety=LocalSafetyFilter(model_path=path),
            )
            out[source] = {k: report[k] for k in _REPORTED}
            _log.info("crossval_source_done", source=source, **out[source])
    return out
