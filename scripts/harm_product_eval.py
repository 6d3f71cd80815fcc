"""What the harm second opinion adds to the shipped filter and router, out of source.

    .venv/bin/python scripts/harm_product_eval.py --data ../shared/data/routing/dev.jsonl \
        ../shared/data/routing/train [--cache scores.npz]

Every row of the corpus (and the template rows) gets the second opinion's
out-of-source gate and head probabilities (`router._harm_train.out_of_source_scores`:
5 source folds, seed 0, the head reading the first `EMBED_CHARS` characters), and
the shipped filter's and router's outcome with the second opinion off. The
shipped router model and filter were trained on ``dev.jsonl`` alone, so on the
other sources both parts are out of source. A row counts as flagged when either
flags it, caught when flagged or routed deep. Rates are means over the non-dev,
non-template sources holding the label (pooled in brackets for harm).

Prints the rates at the shipped model's operating point, a grid of other points
(wider than ``train-harm``'s) and the per-source harm and look-alike rates.
docs/measurements/routing.md quotes its output. About 5 minutes on 2 cores with
the embeddings cached.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))

DEV = {"banking77", "folio", "gsm8k", "humaneval", "openai-moderation", "xstest"}
GRID = [
    (0.95, 0.9),
    (0.9, 0.9),
    (0.8, 0.9),
    (0.7, 0.9),
    (0.6, 0.9),
    (0.7, 0.8),
    (0.5, 0.8),
    (0.5, 0.6),
]


def score(data: list[str]) -> dict[str, np.ndarray]:
    """Out-of-source second-opinion scores and the shipped outcome of every row."""
    from agentkit.safety import LocalSafetyFilter
    from router import LayeredRouter, RouteContext
    from router._embed import EmbeddingLayer
    from router._harm_train import corpus, out_of_source_scores, prepare
    from router._synth import synth_examples
    from router._train import load_rows

    texts, labels, sources = corpus(load_rows(data), synth_examples(seed=0))
    d = prepare(texts, labels, sources, EmbeddingLayer.load().embed_corpus)
    lab, src = d.lab, d.src
    gate, head = out_of_source_scores(d.feats, d.vectors, d.y, lab, src, 5, 0, lambda s: None)
    safety, router = LocalSafetyFilter(second_opinion=False), LayeredRouter()
    flag, deep = np.zeros(len(texts), bool), np.zeros(len(texts), bool)
    for i, text in enumerate(texts):
        v = safety.check_sync(text, stage="input")
        ctx = RouteContext(message=text, flagged=v.flagged, safety_scores=v.categories)
        flag[i], deep[i] = v.flagged, router.route(ctx).tier == "deep"
    return {"g": gate, "e": head, "flag": flag, "deep": deep, "lab": lab, "src": src}


def report(s: dict[str, np.ndarray], point: tuple[float, float]) -> None:
    """Print the product-level rates (see the module docstring)."""
    g, e, flag, deep, lab, src = (s[k] for k in ("g", "e", "flag", "deep", "lab", "src"))
    other = np.array([x not in DEV and not x.startswith("synth-") for x in src])

    def mean(hit: np.ndarray, m: np.ndarray) -> float:
        return float(np.mean([hit[m & (src == x)].mean() for x in np.unique(src[m])]))

    def line(name: str, hit: np.ndarray, gated: np.ndarray) -> None:
        fl, unsafe = flag | hit, other & (lab == "unsafe")
        looks, routine = other & (lab == "safe_lookalike"), other & (lab == "routine")
        caught, reasoning = fl | deep, other & np.isin(lab, ["math", "logic"])
        print(
            f"{name:>10} | harm caught {mean(caught, unsafe):.3f} ({caught[unsafe].mean():.3f})"
            f" | look-alikes flagged {mean(fl, looks):.3f}, or deep {mean(caught, looks):.3f}"
            f" | web {mean(fl, other & (lab == 'benign_web')):.3f}"
            f" | routine escalated {mean(caught, routine):.3f},"
            f" past the gate {mean(gated, routine):.3f}"
            f" | math and logic escalated {mean(caught, reasoning):.3f}"
        )

    line("shipped", np.zeros_like(flag), np.zeros_like(flag))
    for gate, head in GRID:
        line(f"{gate},{head}", (g >= gate) & (e >= head), g >= gate)
    nested, nested_gated, points = nested_hits(s)
    line("nested", nested, nested_gated)
    print(f"nested: each fold at the point chosen on the other folds' real sources: {points}")
    hit = (g >= point[0]) & (e >= point[1])
    xs = (src == "xstest") & (lab == "safe_lookalike")
    dev, gated = np.isin(src, list(DEV)), (g >= point[0]) & ~flag
    before, after = flag[xs].mean(), (flag | hit)[xs].mean()
    print(f"at {point}: XSTest look-alikes flagged {before:.3f} -> {after:.3f}")
    print(f"past the gate, of rows the filter lets through: dev sources {gated[dev].mean():.3f},"
          f" train/ sources {gated[other].mean():.3f}")  # fmt: skip
    for x in sorted(set(src[other].tolist())):
        for label in ("unsafe", "safe_lookalike"):
            m = (src == x) & (lab == label)
            if m.any():
                before = (flag | deep)[m] if label == "unsafe" else flag[m]
                after = (flag | hit | deep)[m] if label == "unsafe" else (flag | hit)[m]
                print(f"  {x} {label}: {before.mean():.3f} -> {after.mean():.3f}")


def nested_hits(
    s: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """Flags and gate passes when each source fold is judged at an operating point chosen
    without it (on the other folds' out-of-source scores, real sources only, as
    ``train-harm`` chooses): the figure free of the choice's optimism."""
    from router._harm_train import OperatingPoint, _source_folds, choose_operating_point

    g, e, lab, src = (s[k] for k in ("g", "e", "lab", "src"))
    fold = _source_folds(src, 5, 0)  # the folds `score` used for the out-of-source scores
    real = ~np.char.startswith(src.astype(str), "synth-")
    hit, gated = np.zeros(len(g), bool), np.zeros(len(g), bool)
    points = []
    for k in range(5):
        fit, held = real & (fold != k), fold == k
        p = choose_operating_point(g[fit], e[fit], lab[fit], src[fit], OperatingPoint())
        hit[held] = (g[held] >= p["gate"]) & (e[held] >= p["flag"])
        gated[held] = g[held] >= p["gate"]
        points.append((p["gate"], p["flag"]))
    return hit, gated, points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--cache", default=None, help="reuse/keep the scores in this .npz")
    args = parser.parse_args()
    from router._harm import load_harm_model

    cache = Path(args.cache) if args.cache else None
    scores = dict(np.load(cache)) if cache and cache.exists() else score(args.data)
    if cache and not cache.exists():
        np.savez(cache, **scores)
    model = load_harm_model()
    if model is None:
        raise SystemExit("no harm model is installed")
    report(scores, (model.gate_threshold, model.flag_threshold))


if __name__ == "__main__":
    main()
