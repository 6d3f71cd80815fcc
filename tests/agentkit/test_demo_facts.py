"""``agentkit demo`` shows whether each scripted answer holds its expected facts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentkit import Runner
from agentkit.cli._demo import _facts_verdict, _load_script, _print_summary
from agentkit.testing import FunctionModel
from examples.customer_service import SCRIPT, build_agent, load_script


def test_the_built_in_script_carries_its_facts_and_a_file_may_too(tmp_path: Path) -> None:
    turns = _load_script(None)
    assert [t["facts"] for t in turns] == [[list(g) for g in t.facts] for t in SCRIPT]
    assert ["1250.40"] in next(t["facts"] for t in turns if "ACC-1001." in t["text"])
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"text": "hi", "facts": [["500"]]}) + "\n")
    assert _load_script(path) == [{"text": "hi", "facts": [["500"]]}]


@pytest.mark.parametrize("facts", ["500", ["500", "EUR"], 500, [[]], [[True]]])
def test_facts_of_another_shape_are_refused_with_the_line(tmp_path: Path, facts: object) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"text": "hi"}) + "\n" + json.dumps({"text": "x", "facts": facts}))
    with pytest.raises(ValueError, match=r"t\.jsonl:2: .facts. must be a list of lists"):
        _load_script(path)
    with pytest.raises(ValueError, match=r"t\.jsonl:2"):
        load_script(path)


def test_a_script_file_may_hold_a_line_separator_inside_a_text(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"text": "a\u2028b", "facts": [["5"]]}, ensure_ascii=False) + "\n")
    assert [(t.text, t.facts) for t in load_script(path)] == [("a\u2028b", (("5",),))]


def test_a_released_answer_without_the_facts_is_shown_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = FunctionModel(lambda call: "The daily ATM withdrawal limit is 999 EUR.")
    agent = build_agent(fast=wrong, deep=wrong, db_path=tmp_path / "b.db", extract=False)
    turn = {"session": "s", "text": "What is the daily ATM withdrawal limit?", "facts": [["500"]]}
    result = Runner.run_sync(agent, turn["text"], session_id="s")
    assert result.outcome == "ok" and "999" in result.text  # released as it is (no extraction)
    assert _facts_verdict(turn, result) == "wrong (missing 500)"
    assert _facts_verdict({"text": "hi"}, result) is None  # no facts named: no verdict
    record = {"tier": "deep", "outcome": "ok", "facts": "wrong (missing 1250.40)",
              "elapsed_ms": 1.0, "timings_ms": {"model": 1.0}, "tokens": {},
              "speculative": None}  # fmt: skip
    _print_summary([record])
    out = capsys.readouterr().out
    assert "wrong" in out and "1250.40" in out  # the facts column (wrapped to fit)
