"""The shipped layer-2 model: it loads, and it beats trivial baselines on held-out rows.

The bundled file is fitted on the training part of a seeded split of dev.jsonl
(its metadata records the seed and fraction); the rest is held out here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from router import LayeredRouter, RouteContext
from router._features import FEATURE_NAMES
from router._layered import bundled_model_path, load_model
from router._linear import HEADS, N_BUCKETS, LinearModel, featurize
from router._train import calibrate_threshold, fit, load_jsonl, to_examples

DEV = Path("/work/shared/data/routing/dev.jsonl")


def _held_out() -> list[dict[str, object]]:
    model = load_model()
    assert model is not None
    meta = json.loads(model.meta)
    rows = load_jsonl(DEV)
    order = np.random.default_rng(meta["seed"]).permutation(len(rows))
    cut = int(len(rows) * (1.0 - meta["val_fraction"]))
    return [rows[i] for i in order[cut:]]


def test_bundled_model_loads_with_calibrated_thresholds() -> None:
    model = LinearModel.load(bundled_model_path())
    assert model.heads == HEADS
    assert model.hashed.shape == (N_BUCKETS, len(HEADS))
    assert all(0.0 < t < 1.0 for t in model.thresholds)
    assert bundled_model_path().stat().st_size < 4_000_000


@pytest.mark.skipif(not DEV.exists(), reason="needs the shared dev set")
def test_router_beats_trivial_baselines_on_held_out_rows() -> None:
    rows = _held_out()
    router = LayeredRouter()
    hard = [r for r in rows if r["label"] in ("math", "logic")]
    routine = [r for r in rows if r["label"] == "routine"]
    deep_hard = np.mean(
        [router.route(RouteContext(message=str(r["text"]))).tier == "deep" for r in hard]
    )
    deep_routine = np.mean(
        [router.route(RouteContext(message=str(r["text"]))).tier == "deep" for r in routine]
    )
    # Any constant router has recall - false-escalation = 0; a coin has 0 in expectation.
    assert deep_hard - deep_routine > 0.8
    assert deep_hard >= 0.9


@pytest.mark.skipif(not DEV.exists(), reason="needs the shared dev set")
def test_unsafe_head_ranks_unsafe_above_benign_on_held_out_rows() -> None:
    from agentkit.safety._eval import average_precision

    model = load_model()
    assert model is not None
    rows = [r for r in _held_out() if r["label"] in ("unsafe", "benign_web", "safe_lookalike")]
    scores = [model.predict(featurize(str(r["text"])))["unsafe"] for r in rows]
    truth = [r["label"] == "unsafe" for r in rows]
    ap = average_precision(scores, truth)
    assert ap is not None and ap > float(np.mean(truth)) + 0.25  # prevalence is chance AP


def test_fit_learns_a_separable_toy_task() -> None:
    rows: list[dict[str, object]] = [
        {"text": f"what is {a} plus {b} times {a}?", "label": "math"}
        for a in range(9)
        for b in range(3)
    ]
    rows += [
        {"text": f"please block my card number {a}{b}, it was stolen", "label": "routine"}
        for a in range(9)
        for b in range(3)
    ]
    model = fit(to_examples(rows), steps=40)
    p_math = model.predict(featurize("what is 4 plus 7 times 2?"))["math"]
    p_routine = model.predict(featurize("please block my card, it was stolen"))["math"]
    assert p_math > 0.5 > p_routine


def test_calibrate_threshold_meets_recall_target() -> None:
    rng = np.random.default_rng(0)
    pos, neg = rng.uniform(0.4, 1.0, 200), rng.uniform(0.0, 0.5, 200)
    t = calibrate_threshold(pos, neg, target_recall=0.95, max_fpr=0.05)
    assert np.mean(pos >= t) >= 0.95
    assert calibrate_threshold(np.array([]), neg, 0.9, 0.1) == 0.5


def test_save_load_roundtrip_and_bad_files(tmp_path: Path) -> None:
    k = len(HEADS)
    rng = np.random.default_rng(1)
    m = LinearModel(
        rng.normal(size=(N_BUCKETS, k)).astype(np.float32),
        rng.normal(size=(len(FEATURE_NAMES), k)).astype(np.float32),
        np.zeros(k, np.float32),
        HEADS,
        (0.5,) * k,
        "{}",
    )
    path = tmp_path / "m.npz"
    m.save(path)
    back = LinearModel.load(path)
    f = featurize("hello world, 12 apples?")
    assert back.predict(f) == pytest.approx(m.predict(f), abs=1e-2)  # float16 storage
    np.savez(tmp_path / "bad.npz", hashed=np.zeros((3, 3)))
    with pytest.raises(KeyError):
        LinearModel.load(tmp_path / "bad.npz")


def test_load_jsonl_rejects_bad_rows(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text('{"text": "a", "label": "routine"}\n\n[1, 2]\n')
    with pytest.raises(ValueError, match=r"x\.jsonl:3"):
        load_jsonl(p)


def test_load_jsonl_splits_on_newline_only(tmp_path: Path) -> None:
    """U+2028/U+2029/U+0085 inside a JSON string are text, not line ends (the corpus has them)."""
    p = tmp_path / "x.jsonl"
    texts = ["first\u2028second", "a\u2029b\x85c", "plain"]
    p.write_text(
        "".join(
            json.dumps({"text": t, "label": "routine"}, ensure_ascii=False) + "\n" for t in texts
        ),
        encoding="utf-8",
    )
    assert [r["text"] for r in load_jsonl(p)] == texts
