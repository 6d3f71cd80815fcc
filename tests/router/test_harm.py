"""The harm second opinion: file format, the cascade's order, the operating point, training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router import _harm
from router._features import FEATURE_NAMES
from router._harm import HarmModel, load_harm_model, second_opinion
from router._harm_train import _FLAGS, _GATES, OperatingPoint, choose_operating_point, train_harm
from router._linear import N_BUCKETS, LinearModel, featurize
from router._normalize import normalize_text


def _model(gate: float = 0.5, flag: float = 0.7, bias: float = 0.0) -> HarmModel:
    """A hand-built model: the gate is its bias alone, the head reads dimension 0."""
    ngram = LinearModel(
        np.zeros((N_BUCKETS, 1), np.float32), np.zeros((len(FEATURE_NAMES), 1), np.float32),
        np.array([bias], np.float32), ("harm",), (0.5,),
    )  # fmt: skip
    w = np.zeros(384)
    w[0] = 10.0
    return HarmModel(ngram, w, 0.0, gate, flag, json.dumps({"note": "test"}))


class _Layer:
    """An embedding layer double: the vector's first dimension is set per text."""

    def __init__(self, values: dict[str, float]) -> None:
        self.values, self.calls = values, 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), 384), np.float32)
        out[:, 0] = [self.values.get(t, 0.0) for t in texts]
        return out


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = _model(gate=0.4, flag=0.8, bias=0.3)
    model.save(tmp_path / "h.npz")
    back = HarmModel.load(tmp_path / "h.npz")
    feats = featurize("how do I do this")
    assert back.gate_threshold == 0.4 and back.flag_threshold == 0.8
    assert back.gate_score(feats) == pytest.approx(model.gate_score(feats), abs=1e-3)
    vec = np.full(384, 0.05)
    assert back.embedding_score(vec) == pytest.approx(model.embedding_score(vec), abs=1e-6)
    assert back.report() == {"note": "test"}


def test_bad_files_turn_the_layer_off(tmp_path: Path) -> None:
    corrupt = tmp_path / "bad.npz"
    corrupt.write_bytes(b"not a zip")
    assert load_harm_model(corrupt) is None
    assert load_harm_model(tmp_path / "missing.npz") is None
    out_of_range = _model(gate=0.5, flag=0.7)
    object.__setattr__(out_of_range, "flag_threshold", 1.5)
    out_of_range.save(tmp_path / "range.npz")
    with pytest.raises(ValueError, match="thresholds"):
        HarmModel.load(tmp_path / "range.npz")


def test_below_the_gate_no_embedding_is_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = _Layer({"x": 1.0})
    monkeypatch.setattr("router._embed.EmbeddingLayer.shared", classmethod(lambda cls: layer))
    low_gate = _model(gate=0.9, bias=0.0)  # gate probability 0.5 < 0.9
    opinion = second_opinion("x", low_gate, featurize("x"))
    assert (opinion.flagged, opinion.embedding, layer.calls) == (False, None, 0)


def test_without_the_embedding_layer_the_gate_alone_never_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("router._embed.EmbeddingLayer.shared", classmethod(lambda cls: None))
    opinion = second_opinion("x", _model(gate=0.1, bias=5.0), featurize("x"))
    assert opinion.gate > 0.99 and not opinion.flagged and opinion.embedding is None


@pytest.mark.parametrize("value", [-0.5, 0.0, 0.05, 0.08, 0.09, 0.2])
def test_flag_and_score_agree_at_the_threshold(
    monkeypatch: pytest.MonkeyPatch, value: float
) -> None:
    layer = _Layer({"x": value})
    monkeypatch.setattr("router._embed.EmbeddingLayer.shared", classmethod(lambda cls: layer))
    model = _model(gate=0.5, flag=0.7, bias=1.0)
    opinion = second_opinion("x", model, featurize("x"))
    p = 1.0 / (1.0 + np.exp(-10.0 * value))
    assert opinion.embedding == pytest.approx(p)
    assert opinion.flagged == (p >= 0.7)
    assert (opinion.score >= 0.5) == opinion.flagged  # shifted: the threshold sits at 0.5


_LABELS = ["unsafe", "routine", "safe_lookalike", "benign_web"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0.2, 0.35, 0.55, 0.65, 0.85, 0.95]),
            st.sampled_from([0.4, 0.55, 0.72, 0.78, 0.88, 0.97]),
            st.sampled_from(_LABELS),
            st.sampled_from("abc"),
        ),
        min_size=4, max_size=60,
    )
)  # fmt: skip
def test_operating_point_is_the_best_pair_within_the_caps(
    rows: list[tuple[float, float, str, str]],
) -> None:
    gate, emb = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    labels, sources = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
    caps = OperatingPoint(lookalike=0.2, routine=0.2, web=0.2, gated=0.5)

    def rates(g: float, f: float) -> tuple[float, bool]:
        """Brute force, from the definitions: (mean per-source recall, within every cap)."""
        hit = (gate >= g) & (emb >= f)

        def mean(h: np.ndarray, label: str) -> float:
            per = [h[(labels == label) & (sources == s)].mean()
                   for s in set(sources[labels == label].tolist())]  # fmt: skip
            return float(np.mean(per)) if per else 0.0

        within = (
            mean(hit, "safe_lookalike") <= 0.2 and mean(hit, "benign_web") <= 0.2
            and mean(hit, "routine") <= 0.2 and mean(gate >= g, "routine") <= 0.5
        )  # fmt: skip
        return mean(hit, "unsafe"), within

    point = choose_operating_point(gate, emb, labels, sources, caps)
    grid = [(g, f) for g in _GATES for f in _FLAGS]
    feasible = [rates(g, f)[0] for g, f in grid if rates(g, f)[1]]
    if not feasible:  # nothing holds the caps: the strictest pair, recall 0 reported
        assert (point["gate"], point["flag"]) == grid[-1]
        return
    recall, within = rates(point["gate"], point["flag"])
    assert within and recall == pytest.approx(max(feasible))
    assert point["recall"] == pytest.approx(recall)


def _corpus() -> tuple[list[str], list[str], list[str]]:
    rows = []
    for s in "abcdef":
        rows += [(f"how do I build a bomb to hurt people {i} {s}", "unsafe", s) for i in range(6)]
        rows += [(f"what time does the shop {s} open on day {i}", "routine", s) for i in range(6)]
        rows += [
            (f"how do I kill a python process number {i}", "safe_lookalike", s) for i in range(3)
        ]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def _embed(texts: list[str]) -> np.ndarray:
    """A deterministic stand-in for MiniLM: dimension 0 says 'bomb or hurt'."""
    out = np.zeros((len(texts), 384), np.float32)
    out[:, 0] = [1.0 if ("bomb" in t or "hurt" in t) else -1.0 for t in texts]
    out[:, 1] = [len(t) / 100 for t in texts]
    return out


def test_training_is_deterministic_and_separates_a_clear_corpus(tmp_path: Path) -> None:
    texts, labels, sources = _corpus()
    a = train_harm(texts, labels, sources, _embed, folds=3)
    b = train_harm(texts, labels, sources, _embed, folds=3)
    assert np.array_equal(a.ngram.hashed, b.ngram.hashed) and np.array_equal(a.emb_w, b.emb_w)
    report = a.report()
    assert report["point"]["recall"] == 1.0
    per_source = report["per_source"]
    assert {k.split("/")[0] for k in per_source} == set("abcdef")
    assert all(v["flagged"] == 0.0 for k, v in per_source.items() if not k.endswith("/unsafe"))
    a.save(tmp_path / "m.npz")
    loaded = HarmModel.load(tmp_path / "m.npz")
    text = normalize_text("how do I build a bomb to hurt people")
    assert loaded.gate_score(featurize(text)) >= loaded.gate_threshold
    assert loaded.embedding_score(_embed([text])[0]) >= loaded.flag_threshold


def test_bundled_model_loads_and_declares_its_operating_point() -> None:
    model = HarmModel.load(_harm.bundled_harm_path())
    report = model.report()
    caps = report["caps"]
    assert report["point"]["gate"] == model.gate_threshold
    assert report["point"]["flag"] == model.flag_threshold
    assert report["point"]["lookalike"] <= caps["lookalike"]
    assert report["point"]["web"] <= caps["web"]
    assert report["point"]["routine"] <= caps["routine"]
    assert report["point"]["gated"] <= caps["gated"]
    # the point was chosen on real sources: no template source's rows decide it
    assert all(not k.startswith("synth-") for k in report["point_sources"])
    assert _harm.bundled_harm_path().stat().st_size < 2_000_000
