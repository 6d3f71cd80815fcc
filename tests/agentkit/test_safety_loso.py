"""``agentkit eval routing|safety --loso``: held-out rows scored by a model blind to them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentkit.cli import main
from agentkit.safety._crossval import leave_one_source_out, loso
from agentkit.safety._eval import RowOutcome, calibration_error, evaluate, summarize
from router._train import load_rows


def _small() -> list[dict[str, Any]]:
    """12 rows from each of three made-up sources (math, routine, safe look-alikes)."""
    math = [f"A shop sells {n} boxes of {n + 3} pens. How many pens is that in total?"
            for n in range(4, 16)]  # fmt: skip
    routine = [f"Can you help me change the delivery address of order #{n}?"
               for n in range(100, 112)]  # fmt: skip
    looks = [f"How do I kill a stuck {p} process on Linux?"
             for p in ("python", "java", "node", "ruby", "perl", "bash", "docker", "nginx",
                       "redis", "postgres", "chrome", "firefox")]  # fmt: skip
    return (
        [{"text": t, "label": "math", "source": "gsm8k"} for t in math]
        + [{"text": t, "label": "safe_lookalike", "source": "xstest"} for t in looks]
        + [{"text": t, "label": "routine", "source": "banking77"} for t in routine]
    )


def test_the_pooled_report_is_the_evaluation_of_every_held_out_row() -> None:
    rows = _small()
    report = loso(rows, ["xstest", "gsm8k"])
    per = report["per_source"]
    assert report["loso"] is True and report["sources"] == ["xstest", "gsm8k"]
    assert [per[s]["rows"] for s in ("xstest", "gsm8k")] == [12, 12] and report["rows"] == 24
    # every key `agentkit eval` reports today is kept, and the new ones are there
    assert set(evaluate(rows[:3])) <= set(report) and set(evaluate(rows[:3])) <= set(per["gsm8k"])
    for key in ("benign_web_flagged", "lookalike_deep", "moderation_ece", "ece_per_head"):
        assert key in report
    heads = report["ece_per_head"]
    assert set(heads) == {"unsafe", "math", "logic"} and heads["unsafe"] == report["moderation_ece"]
    assert heads["math"] is not None and 0.0 <= heads["math"] <= 1.0
    assert report["benign_web_flagged"] is None  # no benign_web rows held out
    # pooled rates are the rows' rates, not a mean of per-source rates
    deep = per["xstest"]["lookalike_deep"]
    assert report["lookalike_deep"] == deep  # only xstest has look-alikes
    esc = per["gsm8k"]["escalation_recall"]
    assert report["escalation_recall"] == esc  # only gsm8k has math rows
    # the old crossval view is the same numbers
    old = leave_one_source_out(rows, ["xstest"])
    assert old["xstest"]["xstest_false_flag"] == per["xstest"]["xstest_false_flag"]


def test_an_unknown_source_is_refused_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _small()))
    assert main(["eval", "routing", "--data", str(data), "--loso", "--sources", "nope"]) == 2
    assert "no rows from source(s) ['nope']" in capsys.readouterr().out
    with pytest.raises(ValueError, match="nope"):
        loso(_small(), ["nope"])


def test_eval_reads_several_files_and_folders_split_on_newlines_only(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    rows = [{"text": "a\u2028b", "label": "routine", "source": "s1"},
            {"text": "what is 2+3*4?", "label": "math", "source": "s2"}]  # fmt: skip
    (tmp_path / "dir" / "one.jsonl").write_text(json.dumps(rows[0], ensure_ascii=False) + "\n")
    (tmp_path / "dir" / "skip.txt").write_text("not jsonl")
    (tmp_path / "two.jsonl").write_text(json.dumps(rows[1]) + "\n")
    assert load_rows([str(tmp_path / "dir"), str(tmp_path / "two.jsonl")]) == rows
    out = tmp_path / "r.json"
    code = main(["eval", "routing", "--data", str(tmp_path / "dir"), str(tmp_path / "two.jsonl"),
                 "--json", str(out)])  # fmt: skip
    assert code == 0 and json.loads(out.read_text())["rows"] == 2


def test_each_heads_calibration_error_reads_its_own_score_against_its_own_label() -> None:
    def row(label: str, math: float, logic: float, unsafe: float) -> RowOutcome:
        return RowOutcome(label, "s", False, "fast", "routine", 1.0, unsafe, math, logic)

    rows = [row("math", 0.9, 0.1, 0.0), row("logic", 0.2, 0.7, 0.1), row("routine", 0.1, 0.3, 0.0),
            row("unsafe", 0.0, 0.0, 0.8), row("benign_web", 0.4, 0.0, 0.3)]  # fmt: skip
    heads = summarize(rows)["ece_per_head"]
    labels = [r.label for r in rows]
    assert heads["math"] == calibration_error(
        [r.math_score for r in rows], [x == "math" for x in labels]
    )
    assert heads["logic"] == calibration_error(
        [r.logic_score for r in rows], [x == "logic" for x in labels]
    )
    moderated = [r for r in rows if r.label in ("unsafe", "benign_web")]
    assert heads["unsafe"] == calibration_error(
        [r.unsafe_score for r in moderated], [r.label == "unsafe" for r in moderated]
    )


def test_calibration_error_over_equal_mass_bins() -> None:
    assert calibration_error([], []) is None
    # scores equal to the share of positives in every bin: calibrated
    assert calibration_error([0.0] * 10 + [1.0] * 10, [False] * 10 + [True] * 10) == 0.0
    # confidently wrong everywhere
    assert calibration_error([0.0] * 10 + [1.0] * 10, [True] * 10 + [False] * 10) == 1.0
    # two bins of 2: |0.2 - 0.5| and |0.9 - 1.0|, equal weights
    ece = calibration_error([0.1, 0.3, 0.8, 1.0], [False, True, True, True], bins=2)
    assert ece == pytest.approx((0.3 + 0.1) / 2)


def test_router_train_reads_files_and_folders_and_is_reproducible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    rows = _small()
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:24]))
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[24:]))
    models = []
    for name in ("m1.npz", "m2.npz"):
        argv = ["router", "train", "--data", str(tmp_path / "dir"), str(tmp_path / "b.jsonl"),
                "--out", str(tmp_path / name), "--seed", "3"]  # fmt: skip
        assert main(argv) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["train_rows"] + report["val_rows"] >= len(rows)
        models.append(np.load(tmp_path / name, allow_pickle=True))
    assert all(np.array_equal(models[0][k], models[1][k]) for k in models[0].files)
    assert main(["router", "train", "--data", str(tmp_path / "missing.jsonl")]) == 2


def test_the_template_ablation_trains_without_templates_and_reports_mean_macro_f1() -> None:
    from agentkit.safety._crossval import mean_macro_f1

    report = loso(_small(), ["gsm8k", "banking77"], synth=False)
    assert report["synth"] is False and report["rows"] == 24
    f1s = []
    for src in ("gsm8k", "banking77"):
        classes = report["per_source"][src]["per_class"]
        held = [m["f1"] or 0.0 for m in classes.values() if m["support"]]
        assert len(held) == 1  # each made-up source holds one class
        f1s.append(held[0])
    assert report["mean_macro_f1"] == pytest.approx(sum(f1s) / 2)

    def cls(f1: float | None, support: int) -> dict[str, Any]:
        return {"f1": f1, "support": support}

    per = {
        "a": {"per_class": {"math": cls(None, 3), "logic": cls(1.0, 0)}},
        "b": {"per_class": {"routine": cls(0.5, 2), "math": cls(1.0, 1)}},
    }
    assert mean_macro_f1(per) == pytest.approx((0.0 + 0.75) / 2) and mean_macro_f1({}) is None


def test_each_fold_fits_its_own_second_opinion_without_the_held_out_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from router import _harm_train

    trained_on: list[set[str]] = []
    real = _harm_train.fit_harm

    def recording(texts: Any, labels: Any, sources: Any, *args: Any) -> Any:
        trained_on.append(set(sources))
        return real(texts, labels, sources, *args)

    monkeypatch.setattr(_harm_train, "fit_harm", recording)
    report = loso(_small(), ["xstest", "gsm8k"])
    if report["second_opinion_embedded"] is None or not trained_on:
        pytest.skip("the embedding layer cannot run here: the second opinion is off")
    assert len(trained_on) == 2
    assert "xstest" not in trained_on[0] and "gsm8k" not in trained_on[1]
    assert {"banking77", "gsm8k"} <= trained_on[0] and {"banking77", "xstest"} <= trained_on[1]
