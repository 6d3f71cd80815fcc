"""Tool calling through the prompt: rendering, the reply schema, decoding, streaming unwrap."""

from __future__ import annotations

import json
import random

import pytest

from agentkit import Message, ToolCall
from agentkit._tool_prompt import (
    AnswerStream,
    parse_reply,
    render_tool_prompt,
    reply_schema,
    to_plain_messages,
)
from tools import calculator, clock

SCHEMAS = [calculator.openai_schema(), clock.openai_schema()]


def test_prompt_lists_every_tool_with_its_arguments() -> None:
    prompt = render_tool_prompt(SCHEMAS)
    assert '{"tool": "<tool name>"' in prompt
    for schema in SCHEMAS:
        fn = schema["function"]
        assert f"- {fn['name']}: {fn['description']}" in prompt
        required = set(fn["parameters"].get("required", ()))
        for name, prop in fn["parameters"].get("properties", {}).items():
            need = "required" if name in required else "optional"
            assert f"  - {name} ({prop['type']}, {need})" in prompt


def test_prompt_renders_enums_arrays_and_no_arguments() -> None:
    schema = {
        "type": "function",
        "function": {
            "name": "pick",
            "description": "Pick.",
            "parameters": {
                "type": "object",
                "properties": {
                    "side": {"enum": ["buy", "sell"], "description": "Which way."},
                    "ids": {"type": "array", "items": {"type": "integer"}},
                },
                "required": ["side"],
            },
        },
    }
    bare = {"type": "function", "function": {"name": "ping", "parameters": {"type": "object"}}}
    prompt = render_tool_prompt([schema, bare])
    assert '  - side (one of: "buy", "sell", required): Which way.' in prompt
    assert "  - ids (array of integer, optional)" in prompt
    assert "- ping\n  (no arguments)" in prompt


def test_reply_schema_has_a_branch_per_tool_and_an_answer() -> None:
    schema = reply_schema(SCHEMAS)
    consts = [b["properties"].get("tool", {}).get("const") for b in schema["anyOf"]]
    assert consts == ["calculator", "clock", None]
    assert schema["anyOf"][0]["properties"]["arguments"] == SCHEMAS[0]["function"]["parameters"]


def test_reply_schema_compiles_for_constrained_decoding() -> None:
    llguidance = pytest.importorskip("llguidance")
    grammar = llguidance.LLMatcher.grammar_from_json_schema(json.dumps(reply_schema(SCHEMAS)))
    assert grammar


def test_parse_reply_decodes_calls_answers_and_plain_text() -> None:
    call = parse_reply('{"tool": "calculator", "arguments": {"expression": "1+1"}}', "c9").call
    assert call == ToolCall.of("c9", "calculator", '{"expression": "1+1"}')
    assert parse_reply('{"answer": "Hi!"}', "c").answer == "Hi!"
    assert parse_reply("just words", "c").answer == "just words"
    assert parse_reply('{"other": 1}', "c").answer == '{"other": 1}'


def test_plain_messages_render_tool_turns_as_chat_turns() -> None:
    call = ToolCall.of("c1", "calculator", '{"expression": "2+2"}')
    messages = [
        Message.system("Be brief."),
        Message.user("2+2?"),
        Message.assistant(None, [call]),
        Message.tool("c1", "4"),
    ]
    plain = to_plain_messages(messages, SCHEMAS)
    assert [m.role for m in plain] == ["system", "system", "user", "assistant", "user"]
    assert plain[0].content == "Be brief."
    assert plain[1].content == render_tool_prompt(SCHEMAS)
    expected = {"tool": "calculator", "arguments": {"expression": "2+2"}}
    assert json.loads(plain[3].content or "") == expected
    assert plain[4].content == "Tool result (calculator, call c1): 4"
    assert all(m.tool_calls is None and m.tool_call_id is None for m in plain)


def test_tool_prompt_keeps_the_earlier_conversation_a_stable_prefix() -> None:
    history = [
        Message.system("Be brief."),
        Message.user("hello"),
        Message.assistant("Hi! How can I help?"),
    ]
    plain = to_plain_messages([*history, Message.user("2+2?")], SCHEMAS)
    assert plain[: len(history)] == history  # what the previous turn's prompt began with
    assert [m.role for m in plain[len(history) :]] == ["system", "user"]
    assert plain[len(history)].content == render_tool_prompt(SCHEMAS)
    # no user message at all: after a leading system prompt, else first
    assert [m.content for m in to_plain_messages([Message.system("S")], SCHEMAS)] == [
        "S",
        render_tool_prompt(SCHEMAS),
    ]
    assert to_plain_messages([], SCHEMAS)[0].content == render_tool_prompt(SCHEMAS)


@pytest.mark.parametrize("answer", ['Hi "there" \\ é \n done', "", "日本語 ✓", "ends with \\"])
def test_answer_stream_unwraps_any_chunking(answer: str) -> None:
    raw = json.dumps({"answer": answer}, ensure_ascii=bool(len(answer) % 2))
    rng = random.Random(7)
    for _ in range(20):
        stream, out, pos = AnswerStream(), "", 0
        while pos < len(raw):
            step = rng.randint(1, 5)
            out += stream.feed(raw[pos : pos + step])
            pos += step
        assert (stream.mode, out) == ("answer", answer)


def test_answer_stream_holds_tool_calls_and_passes_plain_text() -> None:
    tool = AnswerStream()
    assert tool.feed('{"tool": "clock", ') == "" and tool.feed('"arguments": {}}') == ""
    assert tool.mode == "tool"
    plain = AnswerStream()
    assert plain.feed("Hello") + plain.feed(" world") == "Hello world"
    assert plain.mode == "text"


def test_a_typed_answer_branch_carries_the_output_schema() -> None:
    answer = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    schema = reply_schema([], answer)
    assert schema["anyOf"][-1]["properties"]["answer"] == answer
    assert reply_schema([])["anyOf"][-1]["properties"]["answer"] == {"type": "string"}


def test_a_typed_answer_is_held_back_then_decoded_whole() -> None:
    stream = AnswerStream()
    shown = [stream.feed(piece) for piece in ('{"answer":', '{"n": 4', ', "s": "é"}}')]
    assert shown == ["", "", ""] and stream.mode == "value"
    parsed = parse_reply(stream.raw, "c1")
    assert parsed.call is None and parsed.answer is not None
    assert json.loads(parsed.answer) == {"n": 4, "s": "é"}
