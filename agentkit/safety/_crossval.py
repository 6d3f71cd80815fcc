"""Leave-one-source-out estimate: how the router and safety filter do on a source
they were not trained on. ``python -m agentkit.safety._crossval --data dev.jsonl``.

For each held-out source, the model is trained (and calibrated) on the other
sources plus the template rows, then the whole path (safety check, route) is
evaluated on the held-out source's rows only. Holding out GSM8K or FOLIO leaves
the template rows as the only math or logic training data: a hard test of
whether the structural features carry the property.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["leave_one_source_out"]


def leave_one_source_out(
    rows: list[dict[str, Any]], sources: list[str], seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Per held-out source, the evaluation report of a model trained without it."""
    from agentkit.safety._eval import evaluate
    from agentkit.safety._local import LocalSafetyFilter
    from router._layered import LayeredRouter
    from router._policy import RouterPolicy
    from router._synth import synth_examples
    from router._train import train

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for source in sources:
            kept = [r for r in rows if r.get("source") != source]
            held = [r for r in rows if r.get("source") == source]
            model, _ = train(kept, seed=seed, extra=synth_examples(seed=seed))
            path = Path(tmp) / f"{source}.npz"
            model.save(path)
            report = evaluate(
                held,
                router=LayeredRouter(RouterPolicy(model_path=str(path))),
                safety=LocalSafetyFilter(model_path=str(path)),
            )
            out[source] = {
                k: report[k]
                for k in (
                    "rows",
                    "escalation_recall",
                    "false_escalation_routine",
                    "xstest_false_flag",
                    "moderation_auprc",
                )
            }
            print(source, json.dumps(out[source]), file=sys.stderr, flush=True)
    return out


def _main() -> None:
    from router._train import load_jsonl

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--sources", default="gsm8k,folio,humaneval,banking77,xstest")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    result = leave_one_source_out(load_jsonl(args.data), args.sources.split(","))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    _main()
