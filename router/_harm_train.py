"""Training the harm second opinion (`router._harm`), with out-of-source thresholds.

Positives are every ``unsafe`` row; negatives every other label (routine, math,
logic, safe look-alikes, web text) plus the template rows of `router._synth`,
whose contrast pairs share a verb between a harmless and a harmful target.
Sample weights give every (label, source) group the same total, and look-alikes
and web text count 4x, as in `router._train`.

The thresholds are an operating point declared on **out-of-source** scores: the
sources are dealt into ``folds`` groups; each group's rows are scored by a gate
and a head fitted without it. On those scores, the (``gate``, ``flag``) pair is
the one with the highest mean per-source recall of harmful rows whose added
flags stay within the declared caps (`OperatingPoint`), each rate a mean over
the sources holding that label (so one large source does not decide), over the
real sources only (the template rows train the models but are no traffic). The
point is chosen on the same scores that `docs/measurements/routing.md` reports,
one pair of 56: a mild optimism, said there. Then both models are refitted on
every row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from router._harm import EMBED_CHARS, HarmModel
from router._linear import Features, LinearModel, featurize
from router._normalize import normalize_text
from router._train import Example, fit_logistic, group_weights

__all__ = [
    "OperatingPoint",
    "Prepared",
    "choose_operating_point",
    "corpus",
    "fit_harm",
    "out_of_source_scores",
    "prepare",
    "train_harm",
]

_GATES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_FLAGS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


@dataclass(frozen=True)
class OperatingPoint:
    """Caps on the flags the layer may add, as mean per-source rates out of source.

    Attributes:
        lookalike: Safe look-alikes flagged.
        routine: Routine, math and logic turns flagged.
        web: Ordinary web text flagged.
        gated: Routine turns past the gate, so the embedding layer runs (its cost:
            5-20 ms a call, so it must stay off most routine traffic for p50).
    """

    lookalike: float = 0.05
    routine: float = 0.005
    web: float = 0.01
    gated: float = 0.15


def _fit_gate(feats: Sequence[Features], y: np.ndarray, w: np.ndarray) -> LinearModel:
    """One weighted logistic head (``harm``) over hashed n-grams + structure
    (`router._train.fit_logistic`, with the moderation heads' L2 on the n-grams)."""
    l2_h = np.array([[2e-5]])
    hashed, dense_w, bias = fit_logistic(feats, y[:, None], w[:, None], l2_h)
    return LinearModel(hashed.T.copy(), dense_w, bias, ("harm",), (0.5,))


def _fit_head(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, steps: int = 800
) -> tuple[np.ndarray, float]:
    """Weighted logistic regression on embeddings (full-batch Adam, light L2)."""
    x = x.astype(np.float64)
    theta = np.zeros(x.shape[1] + 1)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for step in range(1, steps + 1):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ theta[:-1] + theta[-1], -30, 30)))
        g = (p - y) * w / len(y)
        gr = np.append(x.T @ g + 1e-4 * theta[:-1], g.sum())
        m = 0.9 * m + 0.1 * gr
        v = 0.999 * v + 0.001 * gr * gr
        theta -= 0.05 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return theta[:-1], float(theta[-1])


def _mean_rate(hit: np.ndarray, mask: np.ndarray, sources: np.ndarray) -> float:
    """Mean over the sources with rows in ``mask`` of the share of them that ``hit``."""
    rates = [hit[mask & (sources == s)].mean() for s in np.unique(sources[mask])]
    return float(np.mean(rates)) if rates else 0.0


def choose_operating_point(
    gate: np.ndarray, emb: np.ndarray, labels: np.ndarray, sources: np.ndarray,
    caps: OperatingPoint,
) -> dict[str, float]:  # fmt: skip
    """The (gate, flag) pair of highest mean per-source harm recall within ``caps``.

    Returns:
        ``gate``, ``flag`` and the rates at that point (``recall``, ``lookalike``,
        ``routine``, ``web``, ``gated``). With no pair within the caps, the strictest.
    """
    best: dict[str, float] = {}
    routine = np.isin(labels, ["routine", "math", "logic"])
    for g in _GATES:
        gated = _mean_rate(gate >= g, labels == "routine", sources)
        for f in _FLAGS:
            hit = (gate >= g) & (emb >= f)
            point = {
                "gate": g, "flag": f,
                "recall": _mean_rate(hit, labels == "unsafe", sources),
                "lookalike": _mean_rate(hit, labels == "safe_lookalike", sources),
                "routine": _mean_rate(hit, routine, sources),
                "web": _mean_rate(hit, labels == "benign_web", sources),
                "gated": gated,
            }  # fmt: skip
            within = (
                point["lookalike"] <= caps.lookalike
                and point["routine"] <= caps.routine
                and point["web"] <= caps.web
                and gated <= caps.gated
            )
            if within and point["recall"] > best.get("recall", -1.0):
                best = point
    return best or {"gate": _GATES[-1], "flag": _FLAGS[-1], "recall": 0.0}


def _source_folds(sources: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per row: whole sources dealt at random into ``folds`` groups."""
    names = sorted(set(sources.tolist()))
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[i]: k % folds for k, i in enumerate(order)}
    return np.array([fold_of[s] for s in sources])


@dataclass(frozen=True)
class Prepared:
    """Training rows as the models read them.

    Attributes:
        feats: The gate's features of each normalised text.
        vectors: ``(N, 384)`` embeddings of each normalised text's first `EMBED_CHARS`.
        y: 1.0 for ``unsafe`` rows, else 0.0.
        lab, src: Labels and sources, as arrays.
    """

    feats: list[Features]
    vectors: np.ndarray
    y: np.ndarray
    lab: np.ndarray
    src: np.ndarray


def corpus(
    rows: Sequence[Mapping[str, object]], extra: Sequence[Example] = ()
) -> tuple[list[str], list[str], list[str]]:
    """Texts, labels and sources of labelled rows, then of template examples."""
    return (
        [str(r["text"]) for r in rows] + [e.text for e in extra],
        [str(r["label"]) for r in rows] + [e.label for e in extra],
        [str(r.get("source", "")) for r in rows] + [e.source for e in extra],
    )


def prepare(
    texts: Sequence[str], labels: Sequence[str], sources: Sequence[str],
    embed: Callable[[list[str]], np.ndarray],
) -> Prepared:  # fmt: skip
    """Normalise, featurise and embed the rows (``embed``: `EmbeddingLayer.embed_corpus`)."""
    norm = [normalize_text(t) for t in texts]
    lab = np.array(labels)
    return Prepared(
        [featurize(t) for t in norm], embed([t[:EMBED_CHARS] for t in norm]),
        (lab == "unsafe").astype(np.float64), lab, np.array(sources),
    )  # fmt: skip


def out_of_source_scores(
    feats: Sequence[Features], vectors: np.ndarray, y: np.ndarray, lab: np.ndarray,
    src: np.ndarray, folds: int, seed: int, say: Callable[[str], object] = print,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Gate and head probabilities of every row from models fitted without its source fold."""
    fold = _source_folds(src, folds, seed)
    oof_gate, oof_emb = np.zeros(len(feats)), np.zeros(len(feats))
    for k in range(folds):
        tr, te = fold != k, fold == k
        w = group_weights(y[tr], list(lab[tr]), list(src[tr]))
        gate = _fit_gate([f for f, t in zip(feats, tr, strict=True) if t], y[tr], w)
        oof_gate[te] = [gate.predict(f)["harm"] for f, t in zip(feats, te, strict=True) if t]
        head_w, head_b = _fit_head(vectors[tr], y[tr], w)
        oof_emb[te] = 1.0 / (1.0 + np.exp(-(vectors[te] @ head_w + head_b)))
        say(f"fold {k + 1}/{folds}: {sorted(set(src[te].tolist()))}")
    return oof_gate, oof_emb


def train_harm(
    texts: Sequence[str],
    labels: Sequence[str],
    sources: Sequence[str],
    embed: Callable[[list[str]], np.ndarray],
    *,
    seed: int = 0,
    folds: int = 5,
    caps: OperatingPoint = OperatingPoint(),
    progress: Callable[[str], object] | None = None,
) -> HarmModel:
    """Fit the gate and the head, pick the operating point out of source, refit on all.

    Args:
        texts, labels, sources: The training rows (template rows included by the caller).
        embed: Embeds normalised texts (``EmbeddingLayer.embed_corpus``, with its cache).
        seed: Seed of the source folds (fits are deterministic given the data).
        folds: Source folds for the out-of-source scores.
        caps: The declared operating point.
        progress: Called with a line per finished step.

    Returns:
        The model, its report (sources, label counts, out-of-source rates per
        source at the chosen point) in ``meta``.

    Raises:
        ValueError: fewer sources than ``folds``.
    """
    say = progress or (lambda line: None)
    start = time.perf_counter()
    if len(set(sources)) < folds:
        raise ValueError(f"{len(set(sources))} sources cannot fill {folds} source folds")
    data = prepare(texts, labels, sources, embed)
    feats, vectors, y, lab, src = data.feats, data.vectors, data.y, data.lab, data.src
    say(f"featurised and embedded {len(feats)} rows")
    oof_gate, oof_emb = out_of_source_scores(feats, vectors, y, lab, src, folds, seed, say)
    # Template rows train the models but are no traffic: the point is chosen on real sources.
    real = ~np.char.startswith(src.astype(str), "synth-")
    point = choose_operating_point(oof_gate[real], oof_emb[real], lab[real], src[real], caps)
    say(f"operating point {point}")
    gate, head_w, head_b = _fit_both(feats, vectors, y, lab, src)
    hit = (oof_gate >= point["gate"]) & (oof_emb >= point["flag"])
    report = {
        "seed": seed, "folds": folds, "caps": asdict(caps), "point": point,
        "point_sources": sorted(set(src[real].tolist())),
        "rows": len(feats), "seconds": round(time.perf_counter() - start, 1),
        "per_source": _per_source(hit, oof_gate >= point["gate"], lab, src),
    }  # fmt: skip
    return HarmModel(gate, head_w, head_b, point["gate"], point["flag"], json.dumps(report))


def _fit_both(
    feats: Sequence[Features], vectors: np.ndarray, y: np.ndarray, lab: np.ndarray, src: np.ndarray
) -> tuple[LinearModel, np.ndarray, float]:
    """The gate and the embedding head fitted on every row, with the same sample weights."""
    w = group_weights(y, list(lab), list(src))
    head_w, head_b = _fit_head(vectors, y, w)
    return _fit_gate(feats, y, w), head_w, head_b


def fit_harm(
    texts: Sequence[str], labels: Sequence[str], sources: Sequence[str],
    embed: Callable[[list[str]], np.ndarray], gate: float, flag: float,
) -> HarmModel:  # fmt: skip
    """Fit the gate and the head on every row, with given thresholds (no folds).

    For `agentkit eval --loso`: each held-out source gets a layer fitted without
    it, at the shipped model's operating point.
    """
    d = prepare(texts, labels, sources, embed)
    model, head_w, head_b = _fit_both(d.feats, d.vectors, d.y, d.lab, d.src)
    return HarmModel(model, head_w, head_b, gate, flag)


def _per_source(
    hit: np.ndarray, gated: np.ndarray, lab: np.ndarray, src: np.ndarray
) -> dict[str, object]:
    """Out-of-source rate flagged and rate past the gate, per source and label."""
    out: dict[str, object] = {}
    for s in sorted(set(src.tolist())):
        for label in sorted(set(lab[src == s].tolist())):
            m = (src == s) & (lab == label)
            out[f"{s}/{label}"] = {
                "rows": int(m.sum()),
                "flagged": round(float(hit[m].mean()), 4),
                "gated": round(float(gated[m].mean()), 4),
            }
    return out
