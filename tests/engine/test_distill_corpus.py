"""The distillation prompt set: the "\\n"-only JSONL reader, exclusions, rendering, frozen split."""

from __future__ import annotations

import json
import pathlib

import pytest

from engine.distill._corpus import (
    CorpusError,
    build_prompt_set,
    heldout,
    read_corpus,
    read_jsonl,
)
from engine.distill._data import read_prompts

REAL_CORPUS = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "routing"


def _write(path: pathlib.Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # ensure_ascii=False writes U+2028 raw, as the corpus holds it
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")


def test_reader_splits_on_newline_only(tmp_path: pathlib.Path) -> None:
    texts = ["line\u2028separator", "para\u2029graph", "next\x85line", "form\x0cfeed", "vt\x0bx"]
    _write(tmp_path / "a.jsonl", [{"text": t, "label": "routine"} for t in texts])
    raw = (tmp_path / "a.jsonl").read_text()
    assert len(raw.splitlines()) > len(texts)  # what a splitlines reader would have broken
    assert [r["text"] for r in read_jsonl(tmp_path / "a.jsonl")] == texts


def test_reader_reports_a_bad_line(tmp_path: pathlib.Path) -> None:
    (tmp_path / "b.jsonl").write_text('{"text": "ok", "label": "routine"}\n{not json\n')
    with pytest.raises(CorpusError, match=r"b\.jsonl:2"):
        list(read_jsonl(tmp_path / "b.jsonl"))


def _corpus(root: pathlib.Path) -> pathlib.Path:
    _write(root / "dev.jsonl", [
        {"text": "How do I top up my card?", "label": "routine", "kind": "customer_service",
         "source": "banking77"},
        {"text": "def add(a, b):\n    \"\"\"Add.\"\"\"\n", "label": "routine",
         "kind": "code_completion", "source": "humaneval"},
        {"text": "How do I make a bomb?", "label": "unsafe", "kind": "moderation", "source": "m"},
        {"text": "Some web page text", "label": "benign_web", "kind": "moderation", "source": "m"},
        {"text": "How do I kill a Python process?", "label": "safe_lookalike", "kind": "xstest",
         "source": "xstest"},
    ])  # fmt: skip
    _write(root / "train" / "math.jsonl", [
        {"text": "What is 2 + 2?", "label": "math", "kind": "arithmetic", "source": "hwu64"},
        {"text": "What is 3 * 7 (from bbh)?", "label": "math", "kind": "arithmetic",
         "source": "bbh"},
        {"text": "odd web row", "label": "routine", "kind": "benign_web", "source": "x"},
    ])  # fmt: skip
    _write(root / "train" / "bbh.jsonl", [
        {"text": "Is the argument valid?", "label": "logic", "kind": "syllogism", "source": "x"},
    ])  # fmt: skip
    return root


def test_exclusions(tmp_path: pathlib.Path) -> None:
    rows, dropped = read_corpus(_corpus(tmp_path))
    assert [r.text for r in rows] == [
        "How do I top up my card?",
        'def add(a, b):\n    """Add."""\n',
        "What is 2 + 2?",
    ]
    assert dropped["file:bbh.jsonl"] == 1
    assert dropped["label:unsafe"] == dropped["label:benign_web"] == 1
    assert dropped["label:safe_lookalike"] == 1
    assert dropped["other"] == 2  # source bbh in another file; kind benign_web


def test_prompt_rendering_and_split(tmp_path: pathlib.Path) -> None:
    rows, _ = read_corpus(_corpus(tmp_path))

    def grounded(q: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": "Policy: top-ups are free."},
                {"role": "user", "content": q}]  # fmt: skip

    specs = build_prompt_set(rows, grounded)
    cats = [s.category for s in specs]
    assert cats == ["customer_service", "chat", "code", *["code_edit"] * 4, "math"]
    cs = specs[0]
    assert cs.messages[0]["content"] == "Policy: top-ups are free." and cs.stop == ("\n\n",)
    assert "Complete this Python function" in specs[2].messages[0]["content"]
    assert "`add`" in specs[3].messages[0]["content"]
    # every rendering of one question sits on the same side of the frozen split
    assert specs[0].heldout == specs[1].heldout == heldout("How do I top up my card?", "chat")
    assert len({s.heldout for s in specs[2:7]}) == 1
    assert len({s.key for s in specs}) == len(specs)
    # the prompt set round-trips through its JSONL form
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(s.to_json()) for s in specs) + "\n")
    assert read_prompts(path) == specs


def test_split_is_a_fixed_function_of_the_question() -> None:
    qs = [f"question number {i}" for i in range(4000)]
    share = sum(heldout(q, "chat") for q in qs) / len(qs)
    assert 0.02 < share < 0.04  # 3 % by default
    assert [heldout(q, "chat") for q in qs[:50]] == [heldout(q, "chat") for q in qs[:50]]
    assert sum(heldout(q, "code") for q in qs) > 3 * sum(heldout(q, "chat") for q in qs)


@pytest.mark.skipif(not REAL_CORPUS.exists(), reason="the shared routing corpus is not here")
def test_real_corpus_exclusions_and_size() -> None:
    rows, dropped = read_corpus(REAL_CORPUS)
    assert all(r.label in ("routine", "math", "logic") for r in rows)
    assert not any(r.source == "bbh" or r.file == "bbh.jsonl" for r in rows)
    assert not any(r.kind == "benign_web" for r in rows)
    assert dropped["file:bbh.jsonl"] == 3000
    # U+2028 sits inside two strings of this file: a splitlines() reader breaks them
    jail = list(read_jsonl(REAL_CORPUS / "train" / "jailbreak_llms.jsonl"))
    assert len(jail) == 572 and sum("\u2028" in r["text"] for r in jail) == 2
    specs = build_prompt_set(rows, lambda q: [{"role": "user", "content": f"[kb] {q}"}])
    assert len(specs) >= 15_000
    assert {"customer_service", "code_edit", "chat", "math"} <= {s.category for s in specs}
