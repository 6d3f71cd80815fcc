"""Input hygiene: only what is not valid Unicode text is replaced, and it is noted."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit import ScriptedModel
from agentkit._agent import Agent
from agentkit._input import clean_input as _clean_input
from agentkit._runner import Runner

_HIGH = st.integers(0xD800, 0xDBFF).map(chr)
_LOW = st.integers(0xDC00, 0xDFFF).map(chr)
# Any code point, with surrogates (lone, paired, reversed) and question marks made common.
_TEXT = st.lists(
    st.one_of(st.characters(), _HIGH, _LOW, st.just("?"), st.just("\ufffd"), st.just("é")),
    max_size=40,
).map("".join)


def _is_surrogate(c: str) -> bool:
    return 0xD800 <= ord(c) <= 0xDFFF


def _oracle(text: str) -> str:
    """A high surrogate followed by a low one is one character; any other surrogate is U+FFFD."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if "\ud800" <= c <= "\udbff" and "\udc00" <= nxt <= "\udfff":
            out.append(chr(0x10000 + ((ord(c) - 0xD800) << 10) + (ord(nxt) - 0xDC00)))
            i += 2
            continue
        out.append("\ufffd" if _is_surrogate(c) else c)
        i += 1
    return "".join(out)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(_TEXT)
def test_only_surrogates_are_replaced(text: str) -> None:
    clean, notes = _clean_input(text)
    clean.encode("utf-8")  # valid UTF-8 whatever came in
    assert clean == _oracle(text)
    # Every character that is not a surrogate survives exactly, in order: drop what
    # came from surrogates (U+FFFD and joined pairs) and the rest is the input's own.
    kept = "".join(c for c in text if not _is_surrogate(c))
    joined = {c for c in clean if ord(c) > 0xFFFF and c not in text}
    assert "".join(c for c in clean if c not in joined and c != "\ufffd") == kept.replace(
        "\ufffd", ""
    )
    assert bool(notes) == (clean.count("\ufffd") > text.count("\ufffd"))


def test_question_marks_survive_a_lone_surrogate() -> None:
    clean, notes = _clean_input("Why? \ud800 And why not?")
    assert clean == "Why? \ufffd And why not?"
    assert notes == ["input: invalid code points replaced with U+FFFD"]


def test_a_surrogate_pair_becomes_its_character() -> None:
    assert _clean_input("smile \ud83d\ude00?") == ("smile \U0001f600?", [])


def test_invalid_bytes_are_noted_even_next_to_a_real_replacement_character() -> None:
    clean, notes = _clean_input("ok \ufffd then ".encode() + b"\xff?")
    assert clean == "ok \ufffd then \ufffd?"
    assert notes == ["input: invalid UTF-8 replaced with U+FFFD"]
    assert _clean_input("ok \ufffd".encode()) == ("ok \ufffd", [])


def test_the_model_reads_the_question_marks() -> None:
    model = ScriptedModel(["fine"])
    result = Runner.run_sync(Agent(fast=model), "Is it \udc00 ok?")
    assert result.outcome == "ok"
    assert "input: invalid code points replaced with U+FFFD" in result.reasons
    assert model.calls[0].messages[-1].content == "Is it \ufffd ok?"
