"""The draft-payoff rule behind ``draft="auto"`` (engine.speculative._payoff)."""

from __future__ import annotations

import json
import pathlib

import pytest

from engine.loader import LoadedModel, load_model
from engine.speculative._draft_io import default_draft_path, draft_step_bytes, read_draft
from engine.speculative._draft_model import load_draft
from engine.speculative._factory import DrafterFactory, SpeculationSettings
from engine.speculative._payoff import (
    MIN_SPEEDUP,
    ROW_COST,
    auto_keeps,
    draft_payoff,
    expected_speedup,
    heldout_alpha,
    step_bytes,
)
from tests.engine._draft_helpers import make_target, one_thread  # noqa: F401 (autouse)
from tests.engine.test_draft_model import make_draft_folder


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return load_model(make_target(tmp_path_factory.mktemp("target")), max_seq_len=256)


def test_expected_speedup_by_hand() -> None:
    # alpha 0.5, r 0.25, c 0: S(1) = 1.5 / 1.25 = 1.2, S(2) = 1.75 / 1.5 = 1.167, S(3) < S(2)
    speedup, gamma = expected_speedup(0.5, 0.25, 0.0, 8)
    assert gamma == 1 and speedup == pytest.approx(1.2)
    # a drafter that is never right only costs: S(1) = 1 / (1 + r + c)
    assert expected_speedup(0.0, 0.2, 0.05, 4) == (pytest.approx(1 / 1.25), 1)


def test_expected_speedup_grows_with_acceptance_and_falls_with_cost() -> None:
    speeds = [expected_speedup(a, 0.25, 0.1, 8)[0] for a in (0.2, 0.5, 0.8, 0.95)]
    assert speeds == sorted(speeds) and speeds[0] < 1 < 1.5 < speeds[-1]
    costs = [expected_speedup(0.7, r, 0.1, 8)[0] for r in (0.0, 0.1, 0.5)]
    assert costs == sorted(costs, reverse=True)
    # nearly free rows and a cheap, good drafter: long drafts pay
    assert expected_speedup(0.9, 0.01, 0.01, 8)[1] >= 6


@pytest.mark.parametrize("alpha,gamma_max", [(-0.1, 4), (1.0, 4), (0.5, 0)])
def test_expected_speedup_rejects_bad_arguments(alpha: float, gamma_max: int) -> None:
    with pytest.raises(ValueError):
        expected_speedup(alpha, 0.25, 0.1, gamma_max)


def test_step_bytes_counts_each_matrix_once_and_the_cut_head_is_smaller(
    target: LoadedModel, tmp_path: pathlib.Path
) -> None:
    m = target.model
    by_hand = m.head.data.nbytes + sum(
        w.data.nbytes for lw in m.layers for w in (lw.wqkv, lw.wo, lw.w_gate_up, lw.w_down)
    )
    assert step_bytes(m) == by_hand
    make_draft_folder(target, tmp_path, kept_n=64)
    draft = load_draft(tmp_path, target)
    assert 0 < step_bytes(draft.model) < step_bytes(m)


def test_draft_step_bytes_equal_the_built_drafts(
    target: LoadedModel, tmp_path: pathlib.Path
) -> None:
    # auto judges the shipped draft from its files, before quantizing and packing it
    make_draft_folder(target, tmp_path, kept_n=64)
    _, tensors = read_draft(tmp_path)
    built = load_draft(tmp_path, target).model
    assert draft_step_bytes(tensors, target.model) == step_bytes(built)


def _report(folder: pathlib.Path, alpha: object) -> None:
    (folder / "report.json").write_text(json.dumps({"heldout": {"all": {"alpha": alpha}}}))


def test_heldout_alpha_reads_the_report_and_tolerates_a_bad_one(tmp_path: pathlib.Path) -> None:
    assert heldout_alpha(tmp_path) is None  # no report
    (tmp_path / "report.json").write_text("{not json")
    assert heldout_alpha(tmp_path) is None
    _report(tmp_path, "high")
    assert heldout_alpha(tmp_path) is None
    _report(tmp_path, 1.5)
    assert heldout_alpha(tmp_path) is None
    _report(tmp_path, 0.61)
    assert heldout_alpha(tmp_path) == pytest.approx(0.61)


def test_payoff_follows_the_reported_acceptance(
    target: LoadedModel, tmp_path: pathlib.Path
) -> None:
    make_draft_folder(target, tmp_path, kept_n=64)
    draft = load_draft(tmp_path, target).model
    _report(tmp_path, 0.95)
    good = draft_payoff(draft, target.model, tmp_path, 0.02, 8)
    _report(tmp_path, 0.05)
    bad = draft_payoff(draft, target.model, tmp_path, 0.02, 8)
    assert good is not None and bad is not None
    assert good.pays and not bad.pays and good.speedup > bad.speedup
    assert good.draft_cost == pytest.approx(step_bytes(draft) / step_bytes(target.model))
    assert "needs" in bad.describe()


def test_auto_keeps_a_draft_only_with_a_report_showing_it_pays(
    target: LoadedModel, tmp_path: pathlib.Path
) -> None:
    make_draft_folder(target, tmp_path, kept_n=64)
    draft = load_draft(tmp_path, target).model
    keep, why = auto_keeps(draft, target.model, tmp_path, 8)
    assert not keep and why is not None and "no held-out acceptance" in why  # no report
    _report(tmp_path, 0.99)
    speedup, _ = expected_speedup(0.99, ROW_COST, step_bytes(draft) / step_bytes(target.model), 8)
    assert auto_keeps(draft, target.model, tmp_path, 8) == (speedup >= MIN_SPEEDUP, None)
    _report(tmp_path, 0.01)
    keep, why = auto_keeps(draft, target.model, tmp_path, 8)
    assert not keep and why is not None and f"needs {MIN_SPEEDUP:.2f}x" in why


def test_auto_leaves_the_shipped_draft_out_and_says_why(default_engine: object) -> None:
    # the shipped draft's report (held-out alpha 0.54) predicts ~1.14x: below the bar
    lm = default_engine.loaded  # type: ignore[attr-defined]
    shipped = load_draft("default", lm)
    payoff = draft_payoff(shipped.model, lm.model, default_draft_path(), ROW_COST, 8)
    assert payoff is not None and 1.0 < payoff.speedup < MIN_SPEEDUP
    auto = DrafterFactory(lm, SpeculationSettings(draft="auto"), max_slots=1)
    assert auto.mode == "ngram"
    assert auto.auto_note is not None and payoff.describe() in auto.auto_note
    # an explicit path is the operator's choice: always used
    explicit = DrafterFactory(lm, SpeculationSettings(draft=str(default_draft_path())), max_slots=1)
    assert explicit.mode == "ngram+distilled" and explicit.auto_note is None
