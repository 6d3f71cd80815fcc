"""`agentkit.evals.read_answer_rows`: JSONL read the way the corpus is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentkit.evals import read_answer_rows
from agentkit.evals._answers import EvalDataError


def test_splits_on_newline_only(tmp_path: Path) -> None:
    """A U+2028 inside a question is text: splitlines() would cut the JSON in two."""
    p = tmp_path / "q.jsonl"
    rows = [
        {"question": "What is\u2028the fee?", "facts": [["$5"]]},
        {"question": "Opening hours?", "facts": [["9am"]]},
    ]
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", "utf-8")
    got = read_answer_rows(p)
    assert [r.question for r in got] == ["What is\u2028the fee?", "Opening hours?"]
    assert [r.id for r in got] == ["line 1", "line 2"]


def test_a_bad_line_names_its_number(tmp_path: Path) -> None:
    p = tmp_path / "q.jsonl"
    p.write_text('{"question": "ok?", "facts": [["x"]]}\nnot json\n', "utf-8")
    with pytest.raises(EvalDataError) as info:
        read_answer_rows(p)
    assert "2" in str(info.value)
