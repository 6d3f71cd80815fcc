"""The distillation prompt set, built from the routing corpus (dev + train JSONL).

Rows are user turns labelled for the router (``routing/README.md``). What the
target may be asked to answer for its draft:

- left out: harmful rows (label ``unsafe``), web text (label or kind
  ``benign_web``), ``safe_lookalike`` rows, and every row of ``bbh.jsonl`` /
  source ``bbh`` (BIG-Bench-Hard carries the BIG-bench canary: its authors
  ask that it stay out of language-model training, distillation included);
- kept: routine requests (customer service, assistant requests, chit-chat,
  code tasks), math and logic questions.

Each kept row becomes one or more prompts rendered the way production renders
them: customer-service questions as the grounded support prompt of
``examples/customer_service`` (its instructions, the best policy passage,
then the question; answers stop at a blank line, as the fast tier's do) and
also as a plain chat turn; HumanEval functions also as code edits. The
held-out split is frozen by a hash of the *question* (the code, for code and
code edits), so every rendering of one question lands on the same side.

JSONL is read by splitting on ``"\\n"`` only: the corpus holds U+2028 inside
strings, which `str.splitlines` would treat as line ends.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine._errors import EngineConfigError

__all__ = [
    "CorpusError",
    "CorpusRow",
    "PromptSpec",
    "admitted",
    "build_prompt_set",
    "heldout",
    "read_corpus",
    "read_jsonl",
]

EXCLUDED_LABELS = frozenset({"unsafe", "benign_web", "safe_lookalike"})
EXCLUDED_KINDS = frozenset({"benign_web"})
EXCLUDED_SOURCES = frozenset({"bbh"})  # BIG-Bench-Hard: keep out of LM training (canary)
EXCLUDED_FILES = frozenset({"bbh.jsonl"})
CODE_EDITS = (
    "Rename the function `{name}` to `solve` in this code and return the full code:",
    "Add type hints to every parameter and return value in this code and return the full code:",
    "Rewrite the docstring of `{name}` as a Google-style docstring and return the full code:",
    "Add one more doctest example to the docstring of `{name}` and return the full code:",
)
HELDOUT_SHARE = {"code": 0.12, "code_edit": 0.12}  # few source functions: a larger share
DEFAULT_HELDOUT_SHARE = 0.03


class CorpusError(EngineConfigError):
    """A corpus file is not JSONL of ``{"text", "label", ...}`` objects."""


@dataclass(frozen=True)
class CorpusRow:
    """One labelled user turn of the routing corpus."""

    text: str
    label: str
    kind: str
    source: str
    file: str


@dataclass(frozen=True)
class PromptSpec:
    """One prompt of the distillation set.

    Attributes:
        key: stable id (hash of category and messages).
        category: ``customer_service``, ``chat``, ``code``, ``code_edit``, ``math``, ``logic``.
        source: the corpus source it came from.
        messages: OpenAI-shaped messages (rendered by the target's chat template).
        heldout: reserved for the acceptance report, never trained on.
        stop: stop strings production uses for this kind of prompt.
    """

    key: str
    category: str
    source: str
    messages: tuple[dict[str, str], ...]
    heldout: bool
    stop: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (`from_json` reads it back)."""
        return {
            "key": self.key, "category": self.category, "source": self.source,
            "messages": list(self.messages), "heldout": self.heldout, "stop": list(self.stop),
        }  # fmt: skip

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> PromptSpec:
        """The inverse of `to_json`."""
        return cls(
            raw["key"], raw["category"], raw["source"], tuple(raw["messages"]),
            bool(raw["heldout"]), tuple(raw.get("stop", ())),
        )  # fmt: skip


def read_jsonl(path: str | pathlib.Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file, lines split on ``"\\n"`` only (U+2028 is not a line end).

    Raises:
        CorpusError: a line that is not a JSON object.
    """
    text = pathlib.Path(path).read_bytes().decode("utf-8")
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(raw, dict):
            raise CorpusError(f"{path}:{n}: expected a JSON object")
        yield raw


def admitted(row: CorpusRow) -> bool:
    """Whether a corpus row may be answered by the target for distillation (see module doc)."""
    return not (
        row.label in EXCLUDED_LABELS
        or row.kind in EXCLUDED_KINDS
        or row.source in EXCLUDED_SOURCES
        or row.file in EXCLUDED_FILES
    )


def read_corpus(root: str | pathlib.Path) -> tuple[list[CorpusRow], Counter[str]]:
    """Admitted rows of ``root/dev.jsonl`` and ``root/train/*.jsonl``, and what was left out.

    Returns:
        (rows in file order, counts of left-out rows by reason).

    Raises:
        CorpusError: a missing corpus or a malformed row.
    """
    base = pathlib.Path(root)
    files = [base / "dev.jsonl", *sorted((base / "train").glob("*.jsonl"))]
    if not files[0].exists():
        raise CorpusError(f"{files[0]} not found: is {base} the routing corpus?")
    rows: list[CorpusRow] = []
    dropped: Counter[str] = Counter()
    for path in files:
        if path.name in EXCLUDED_FILES:
            dropped[f"file:{path.name}"] += sum(1 for _ in read_jsonl(path))
            continue
        for n, raw in enumerate(read_jsonl(path), 1):
            if not isinstance(raw.get("text"), str) or not isinstance(raw.get("label"), str):
                raise CorpusError(f"{path}:{n}: a row needs string 'text' and 'label'")
            row = CorpusRow(
                raw["text"], raw["label"], str(raw.get("kind", "")),
                str(raw.get("source", "")), path.name,
            )  # fmt: skip
            if admitted(row):
                rows.append(row)
            else:
                dropped[f"label:{row.label}" if row.label in EXCLUDED_LABELS else "other"] += 1
    return rows, dropped


def heldout(question: str, category: str) -> bool:
    """The frozen split: a hash of the question decides, the same on every run and machine."""
    share = HELDOUT_SHARE.get(category, DEFAULT_HELDOUT_SHARE)
    h = int.from_bytes(hashlib.sha256(question.strip().encode()).digest()[:8], "big")
    return (h % 10_000) < share * 10_000


def _category(row: CorpusRow) -> str:
    if row.label in ("math", "logic"):
        return row.label
    if row.kind == "customer_service":
        return "customer_service"
    if row.kind in ("code", "code_completion"):
        return "code"
    return "chat"


def _spec(
    category: str, source: str, messages: list[dict[str, str]], question: str, stop: tuple[str, ...]
) -> PromptSpec:
    key = hashlib.sha256(json.dumps([category, messages]).encode()).hexdigest()[:16]
    # every rendering of a question shares its split: a code edit is split as its code
    held = heldout(question, "code" if category == "code_edit" else category)
    return PromptSpec(key, category, source, tuple(messages), held, stop)


def _code_edits(row: CorpusRow) -> list[PromptSpec]:
    """A HumanEval function as code-edit prompts (one per instruction)."""
    names = re.findall(r"^def (\w+)\(", row.text, flags=re.MULTILINE)
    if not names:
        return []
    code = row.text.strip("\n")
    out = []
    for template in CODE_EDITS:
        ask = template.format(name=names[-1])
        msgs = [{"role": "user", "content": f"{ask}\n\n{code}\n"}]
        out.append(_spec("code_edit", row.source, msgs, row.text, ()))
    return out


def _code_prompt(row: CorpusRow) -> list[dict[str, str]]:
    if row.kind == "code_completion":  # HumanEval: a signature and docstring to complete
        return [{"role": "user", "content": f"Complete this Python function:\n\n{row.text}"}]
    return [{"role": "user", "content": row.text}]


def build_prompt_set(
    rows: Sequence[CorpusRow],
    grounded: Callable[[str], list[dict[str, str]]] | None = None,
    grounded_stop: tuple[str, ...] = ("\n\n",),
) -> list[PromptSpec]:
    """The prompts for ``rows``, deduplicated by key, in a stable order.

    Args:
        rows: admitted corpus rows (`read_corpus`).
        grounded: ``question -> messages`` of the grounded support prompt (the
            CLI passes the customer-service example's); None: customer-service
            questions are asked as plain chat turns only.
        grounded_stop: stop strings of grounded answers (the fast tier's).
    """
    specs: dict[str, PromptSpec] = {}

    def add(spec: PromptSpec) -> None:
        specs.setdefault(spec.key, spec)

    for row in rows:
        cat = _category(row)
        if cat == "code":
            add(_spec("code", row.source, _code_prompt(row), row.text, ()))
            if row.kind == "code_completion":
                for spec in _code_edits(row):
                    add(spec)
            continue
        plain = [{"role": "user", "content": row.text}]
        if cat == "customer_service":
            if grounded is not None:
                add(_spec(cat, row.source, grounded(row.text), row.text, grounded_stop))
            # the same question without grounding is an open chat turn (same split)
            add(_spec("chat", row.source, plain, row.text, ()))
            continue
        add(_spec(cat, row.source, plain, row.text, ()))
    return list(specs.values())
