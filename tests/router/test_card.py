"""The model card: counts, split scores, rendering and the generated section of a document."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from agentkit.cli import main
from router._card import BEGIN, END, render, source_counts, split_scores, write_section
from router._layered import bundled_model_path

ROOT = Path(__file__).resolve().parents[2]
HEADS = ("math", "logic", "unsafe", "code")
THRESHOLDS = {"math": 0.5, "logic": 0.4, "unsafe": 0.7, "code": 0.5}


def test_split_scores_count_own_head_hits_and_any_head_alarms() -> None:
    labels = ["math", "math", "logic", "routine", "routine", "unsafe", "safe_lookalike"]
    sources = ["a", "a", "b", "a", "b", "b", "b"]
    scores = np.array([
        [0.9, 0.0, 0.0, 0.0],  # math, own head fires
        [0.1, 0.9, 0.0, 0.0],  # math, only logic fires: a miss
        [0.0, 0.4, 0.0, 0.0],  # logic at its threshold: a hit
        [0.0, 0.0, 0.0, 0.9],  # routine, only code fires: no alarm
        [0.0, 0.0, 0.8, 0.0],  # routine, unsafe fires: an alarm
        [0.0, 0.0, 0.69, 0.0],  # unsafe below 0.7: a miss
        [0.0, 0.0, 0.0, 0.0],  # look-alike, quiet
    ])  # fmt: skip
    out = split_scores(sources, labels, scores, THRESHOLDS, HEADS)
    assert out == {
        "a": {"rows": 3, "escalation_recall": 0.5, "false_escalation": 0.0},
        "b": {"rows": 4, "escalation_recall": 0.5, "false_escalation": 0.5},
    }


def _report() -> dict[str, object]:
    rows = [{"source": "gsm8k", "label": "math"}] * 3 + [{"source": "snips", "label": "routine"}]
    return {
        "seed": 7, "val_fraction": 0.25, "refit": False, "train_rows": 3, "val_rows": 1,
        "synth_rows": 0, "thresholds": THRESHOLDS, "sources": source_counts(rows),
        "val_by_source": {"snips": {"rows": 1, "escalation_recall": None, "false_escalation": 0.0}},
        "date": "2026-12-05", "command": "agentkit router train --data x", "seconds": 1.0,
        "file": "m.npz", "bytes": 1000, "shipped": False,
    }  # fmt: skip


def test_the_card_tells_sources_labels_split_and_what_its_scores_are() -> None:
    card = render(_report())
    assert "| gsm8k | 3 |  | 0 | – | – |" in card  # labels sorted: math, routine; none held out
    assert "| snips |  | 1 | 1 | – | 0.000 |" in card
    assert "seed 7" in card and "agentkit router train --data x" in card
    assert "logic 0.400" in card and "unsafe 0.700" in card and "math 0.500" not in card
    assert "in-distribution" in card and "--loso" in card and "holds the refit" not in card
    refit = render({**_report(), "refit": True, "data_sha256": "0123abcd"})
    assert "the file holds the refit" in refit and "split model's" in refit
    assert "Data SHA-256 `0123abcd`" in refit


def test_write_section_replaces_only_the_generated_part(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{BEGIN}\nold card\n{END}\noutro\n")
    write_section(doc, "new card\n")
    write_section(doc, "newer card\n")  # idempotent: the markers stay
    assert doc.read_text() == f"intro\n{BEGIN}\nnewer card\n{END}\noutro\n"
    (tmp_path / "bare.md").write_text("no markers\n")
    with pytest.raises(ValueError, match="no"):
        write_section(tmp_path / "bare.md", "card")


def test_router_train_writes_the_card_beside_the_model_and_into_the_doc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "rows.jsonl"
    rows = [
        {"text": f"What is {i} + {i * 3}?", "label": "math", "source": "sums"} for i in range(30)
    ]
    rows += [
        {"text": f"Book a table for {i} at eight", "label": "routine", "source": "diner"}
        for i in range(30)
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Doc\n{BEGIN}\n{END}\n")
    out = tmp_path / "m.npz"
    argv = ["router", "train", "--data", str(data), "--out", str(out), "--no-synth"]
    assert main([*argv, "--card-doc", str(doc)]) == 0
    card = (tmp_path / "m.card.md").read_text()
    assert card in doc.read_text() and "| diner |  | 30 |" in card and "| sums | 30 |  |" in card
    report = json.loads(capsys.readouterr().out)
    assert report["sources"] == {"diner": {"routine": 30}, "sums": {"math": 30}}
    assert report["command"].endswith("--seed 0 --no-synth") and report["shipped"] is False
    assert report["data_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()[:16]
    meta = json.loads(str(np.load(out)["meta"]))
    assert meta["sources"] == report["sources"]  # the model file describes itself
    doc.write_text("no section")
    assert main([*argv, "--card-doc", str(doc)]) == 2  # the model is written; the card is not


def test_the_documented_card_is_the_shipped_models() -> None:
    shipped = bundled_model_path().with_suffix(".card.md").read_text()
    doc = (ROOT / "docs" / "routing.md").read_text()
    assert f"{BEGIN}\n{shipped}{END}" in doc
    meta = json.loads(str(np.load(bundled_model_path())["meta"]))
    assert f"{meta['train_rows']} rows fitted" in shipped


def test_router_train_out_without_suffix_writes_the_npz_numpy_names(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    rows = [{"text": f"What is {i} + 2?", "label": "math", "source": "s"} for i in range(20)]
    rows += [{"text": f"Book table {i}", "label": "routine", "source": "t"} for i in range(20)]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    argv = ["router", "train", "--data", str(data), "--out", str(tmp_path / "m.v2"), "--no-synth"]
    assert main(argv) == 0
    assert (tmp_path / "m.v2.npz").exists()
    assert (tmp_path / "m.v2.card.md").exists()
