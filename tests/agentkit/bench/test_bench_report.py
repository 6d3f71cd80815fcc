"""`agentkit bench report`: its evaluation data is an explicit input, never a path it guesses."""

from __future__ import annotations

import ast
import json
import pathlib

import pytest

from agentkit.bench._markdown import _eval_data_line
from agentkit.bench._report import _evaluations, _tier_prompts, write_report
from agentkit.cli import main
from agentkit.cli._bench import EVAL_DATA_ENV, eval_data_path

ROOT = pathlib.Path(__file__).resolve().parents[3]
PACKAGES = ("agentkit", "engine", "router", "tools")


def _jsonl(path: pathlib.Path, rows: list[dict[str, str]]) -> pathlib.Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_tier_prompts_take_banking_rows_of_the_given_data_else_a_built_in(
    tmp_path: pathlib.Path,
) -> None:
    data = _jsonl(
        tmp_path / "dev.jsonl",
        [{"text": "card lost", "source": "banking77"}, {"text": "hi", "source": "other"},
         {"text": "refund late", "source": "banking77"}, {"text": "x", "source": "banking77"}],
    )  # fmt: skip
    users = [p[1]["content"] for p in _tier_prompts(2, str(data))]
    assert users == ["card lost", "refund late"]
    built_in = _tier_prompts(3, None)
    assert len(built_in) == 3 and len({p[1]["content"] for p in built_in}) == 1


def test_no_data_means_no_evaluation_and_the_report_says_so() -> None:
    assert _evaluations(None) == {}
    assert "none given (`--eval-data`)" in _eval_data_line(None)
    assert "`dev.jsonl`" in _eval_data_line("dev.jsonl")


def test_missing_data_is_refused_before_any_benchmark_runs(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl"):
        write_report(tmp_path / "b.md", eval_data=missing)
    assert main(["bench", "report", "--out", str(tmp_path / "b.md"), "--eval-data", str(missing)])
    assert "evaluation data not found" in capsys.readouterr().out
    assert not (tmp_path / "b.md").exists()


def test_the_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EVAL_DATA_ENV, raising=False)
    assert eval_data_path(None) is None
    monkeypatch.setenv(EVAL_DATA_ENV, "/data/dev.jsonl")
    assert eval_data_path(None) == pathlib.Path("/data/dev.jsonl")
    assert eval_data_path(pathlib.Path("mine.jsonl")) == pathlib.Path("mine.jsonl")


def _escapes(path: pathlib.Path) -> list[str]:
    """String literals in a module that name a place outside the repository."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if "../" in text or text == "shared" or "/shared/" in text:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text!r}")
    return found


def test_no_package_module_names_a_path_outside_the_repository() -> None:
    # `_report` once read ../shared/data/routing/dev.jsonl: data comes in as an argument
    found = [hit for pkg in PACKAGES for f in (ROOT / pkg).rglob("*.py") for hit in _escapes(f)]
    assert found == []
