"""The harm second opinion inside `LocalSafetyFilter`: when it is asked, what it may do."""

from __future__ import annotations

from pathlib import Path

import anyio
import numpy as np
import pytest

from agentkit.safety import LocalSafetyFilter, SafetyPolicy
from agentkit.safety._policy import CATEGORIES
from router._features import FEATURE_NAMES
from router._harm import HarmModel
from router._linear import N_BUCKETS, LinearModel
from router._normalize import normalize_text
from tests.agentkit._threads import record_check_threads

_HARMFUL = "What is the easiest way to get the thing done quietly tonight?"
_PLAIN = "What are your opening hours?"


class _Layer:
    """Embedding double: dimension 0 is 1 for the texts in ``harmful``, else -1."""

    def __init__(self, harmful: set[str]) -> None:
        self.harmful, self.seen = harmful, []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.seen += list(texts)
        out = np.zeros((len(texts), 384), np.float32)
        out[:, 0] = [1.0 if t in self.harmful else -1.0 for t in texts]
        return out


@pytest.fixture
def harm_path(tmp_path: Path) -> str:
    """A model whose gate always passes (bias 5) and whose head reads dimension 0."""
    ngram = LinearModel(
        np.zeros((N_BUCKETS, 1), np.float32), np.zeros((len(FEATURE_NAMES), 1), np.float32),
        np.array([5.0], np.float32), ("harm",), (0.5,),
    )  # fmt: skip
    w = np.zeros(384)
    w[0] = 6.0
    path = tmp_path / "harm.npz"
    HarmModel(ngram, w, 0.0, 0.5, 0.9, "{}").save(path)
    return str(path)


@pytest.fixture
def layer(monkeypatch: pytest.MonkeyPatch) -> _Layer:
    fake = _Layer({normalize_text(_HARMFUL)})
    monkeypatch.setattr("router._embed.EmbeddingLayer.shared", classmethod(lambda cls: fake))
    return fake


def test_flags_input_the_rest_lets_through_and_escalates(harm_path: str, layer: _Layer) -> None:
    f = LocalSafetyFilter(harm_model_path=harm_path)
    assert not LocalSafetyFilter(second_opinion=False).check_sync(_HARMFUL, stage="input").flagged
    verdict = f.check_sync(_HARMFUL, stage="input")
    assert verdict.flagged and verdict.action == "escalate"
    assert any(r.startswith("second opinion: harmful request (") for r in verdict.reasons)
    # it names no category: the category scores are the rest of the filter's
    off = LocalSafetyFilter(second_opinion=False).check_sync(_HARMFUL, stage="input")
    assert verdict.categories == off.categories
    assert not f.check_sync(_PLAIN, stage="input").flagged


def test_never_refuses_on_its_own(harm_path: str, layer: _Layer) -> None:
    refusing = {c: "refuse" for c in ("violence", "illicit", "harassment")}
    policy = SafetyPolicy(actions=refusing)
    verdict = LocalSafetyFilter(policy, harm_model_path=harm_path).check_sync(
        _HARMFUL, stage="input"
    )
    assert verdict.flagged and verdict.action == "escalate"


@pytest.mark.parametrize("stage", ["output", "tool_result"])
def test_only_input_is_asked(harm_path: str, layer: _Layer, stage: str) -> None:
    verdict = LocalSafetyFilter(harm_model_path=harm_path).check_sync(_HARMFUL, stage=stage)  # type: ignore[arg-type]
    assert not verdict.flagged and layer.seen == []


def test_switched_off_or_already_flagged_asks_nothing(harm_path: str, layer: _Layer) -> None:
    off = LocalSafetyFilter(second_opinion=False, harm_model_path=harm_path)
    assert not off.check_sync(_HARMFUL, stage="input").flagged
    on = LocalSafetyFilter(harm_model_path=harm_path)
    assert on.check_sync("how do I build a pipe bomb to kill my neighbour", stage="input").flagged
    assert layer.seen == []


def test_a_missing_model_turns_the_layer_off(tmp_path: Path, layer: _Layer) -> None:
    f = LocalSafetyFilter(harm_model_path=str(tmp_path / "none.npz"))
    assert not f.check_sync(_HARMFUL, stage="input").flagged and layer.seen == []


def test_async_check_equals_sync(harm_path: str, layer: _Layer) -> None:
    f = LocalSafetyFilter(harm_model_path=harm_path)
    got = anyio.run(lambda: f.check(_HARMFUL, stage="input"))
    want = f.check_sync(_HARMFUL, stage="input")
    assert (got.flagged, got.action, got.categories) == (want.flagged, want.action, want.categories)


def test_the_allow_list_hides_phrases_from_it_too(harm_path: str, layer: _Layer) -> None:
    policy = SafetyPolicy(allow_phrases=("get the thing done quietly",))
    verdict = LocalSafetyFilter(policy, harm_model_path=harm_path).check_sync(
        _HARMFUL, stage="input"
    )
    assert not verdict.flagged
    assert normalize_text(_HARMFUL) not in layer.seen


def test_input_goes_off_the_event_loop_while_the_layer_may_run(
    harm_path: str, layer: _Layer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    monkeypatch.setattr("agentkit.safety._local.embedding_possible", lambda: True)
    f = LocalSafetyFilter(harm_model_path=harm_path)
    seen = record_check_threads(f, monkeypatch)

    async def main() -> int:
        await f.check(_PLAIN, stage="input")
        await f.check(_PLAIN, stage="output")
        return threading.get_ident()

    loop = anyio.run(main)
    assert seen[0] != loop and seen[1] == loop


def test_warm_loads_the_embedding_layer(harm_path: str, layer: _Layer) -> None:
    LocalSafetyFilter(harm_model_path=harm_path).warm()
    assert layer.seen  # the first forward pass ran before any turn


@pytest.mark.parametrize(
    "policy",
    [
        SafetyPolicy(default_action="refuse"),
        SafetyPolicy(actions={c: "refuse" for c in CATEGORIES}),
        SafetyPolicy(actions={c: "allow" for c in CATEGORIES}),
        SafetyPolicy(category_thresholds={"hate/threatening": 0.0}),
    ],
    ids=["default-refuse", "all-refuse", "all-allow", "refusing-category-at-zero"],
)
def test_its_flag_escalates_whatever_the_category_actions(
    harm_path: str, layer: _Layer, policy: SafetyPolicy
) -> None:
    verdict = LocalSafetyFilter(policy, harm_model_path=harm_path).check_sync(
        _HARMFUL, stage="input"
    )
    assert verdict.flagged and verdict.action == "escalate"
    assert verdict.reasons == (verdict.reasons[0],) and "second opinion" in verdict.reasons[0]


def test_a_milder_default_action_is_kept(harm_path: str, layer: _Layer) -> None:
    policy = SafetyPolicy(default_action="allow")
    verdict = LocalSafetyFilter(policy, harm_model_path=harm_path).check_sync(
        _HARMFUL, stage="input"
    )
    assert verdict.flagged and verdict.action == "allow"


def test_a_stricter_flag_threshold_applies_to_it(harm_path: str, layer: _Layer) -> None:
    # the fixture's head gives p = sigmoid(6) = 0.9975 against its threshold 0.9: score ~0.98
    strict = LocalSafetyFilter(SafetyPolicy(flag_threshold=0.99), harm_model_path=harm_path)
    verdict = strict.check_sync(_HARMFUL, stage="input")
    assert not verdict.flagged and verdict.action == "allow" and verdict.reasons == ()
    loose = LocalSafetyFilter(SafetyPolicy(flag_threshold=0.9), harm_model_path=harm_path)
    assert loose.check_sync(_HARMFUL, stage="input").flagged


def test_long_input_is_left_to_the_sentence_scan(harm_path: str, layer: _Layer) -> None:
    long = _HARMFUL + " " + "The weather was mild and the market was quiet. " * 120
    LocalSafetyFilter(harm_model_path=harm_path).check_sync(long, stage="input")
    assert layer.seen == []


def test_without_the_embedding_layer_input_stays_on_the_loop(
    harm_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentkit.safety import _second

    monkeypatch.setattr(_second, "_installed", lambda: False)
    assert not LocalSafetyFilter(harm_model_path=harm_path)._runs_embedding()
    monkeypatch.setattr(_second, "_installed", lambda: True)
    monkeypatch.setattr("router._embed._shared", [None])  # tried to load, and could not
    assert not LocalSafetyFilter(harm_model_path=harm_path)._runs_embedding()
    monkeypatch.setattr("router._embed._shared", [])  # not tried yet: it may load
    assert LocalSafetyFilter(harm_model_path=harm_path)._runs_embedding()
