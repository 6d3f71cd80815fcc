"""Ablation of the safety filter's hand-written rule families (issue 15), leave one source out.

Not part of the SDK: the experiment behind the ablation table in `docs/routing.md`,
kept so it can be rerun. Each family is switched off inside the scorer
(`agentkit.safety._scoring`), so training (thresholds) and scoring both run
without it, and `agentkit.safety._crossval.loso` retrains the shipped
architecture without each source and scores that source:

* ``no_lexicon``: the category patterns of `_lexicon.py` and the sexual-near-minor check;
* ``no_intent``: the intent patterns (`_intent*.py`);
* ``no_benign``: the benign senses and contexts (`_benign.py`).

The template rows are ablated by ``agentkit eval routing --loso --no-synth``.

Usage::

    .venv/bin/python scripts/rule_ablation.py --data ../shared/data/routing/dev.jsonl \\
        --out ablation.json no_lexicon no_intent no_benign
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import agentkit.safety._scoring as S
from agentkit.safety._crossval import loso, mean_macro_f1
from router._train import load_rows

KEYS = ("escalation_recall", "false_escalation_routine", "xstest_false_flag",
        "moderation_auprc", "benign_web_flagged", "lookalike_deep")  # fmt: skip


class _NoBenign(S._Benign):
    """Never a benign sense or context."""

    @property
    def sense(self) -> bool:
        return False

    @property
    def context(self) -> bool:
        return False


def _switch_off(name: str, orig: tuple[Any, ...]) -> None:
    S.CATEGORY_PATTERNS, S._sexual_near_minor, S.intent_scores, S._Benign = orig
    if name == "no_lexicon":
        S.CATEGORY_PATTERNS = {k: () for k in orig[0]}
        S._sexual_near_minor = lambda *a: False
    elif name == "no_intent":
        S.intent_scores = lambda *a, **k: {}
    elif name == "no_benign":
        S._Benign = _NoBenign
    elif name != "all":
        raise SystemExit(f"unknown variant {name!r}")


def main() -> None:
    """Run each variant (``all`` = nothing switched off) and write their summaries."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args()
    rows = load_rows(args.data)
    orig = (S.CATEGORY_PATTERNS, S._sexual_near_minor, S.intent_scores, S._Benign)
    out = {}
    for name in args.variants:
        _switch_off(name, orig)
        report = loso(rows)
        out[name] = {"mean_macro_f1": mean_macro_f1(report["per_source"]),
                     **{k: report[k] for k in KEYS}}  # fmt: skip
        print(name, json.dumps(out[name]), flush=True)
    _switch_off("all", orig)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
