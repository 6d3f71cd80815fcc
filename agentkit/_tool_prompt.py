"""Tool calling for models whose chat template knows no tools (the default model's does not).

The tools are described in the system prompt, and the model replies with one
JSON object, decoded under `reply_schema` so that it is always well-formed:

    {"tool": "<name>", "arguments": {...}}     call a tool
    {"answer": "<text>"}                        answer the user

Earlier calls and results are rendered as plain chat turns: an assistant
message holding the call's JSON, then a user message
``Tool result (<name>, call <id>): <content>``. The answer streams while it is
decoded: `AnswerStream` unwraps the JSON string incrementally. The format is
documented in ``docs/agent-loop.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentkit._messages import Message, ToolCall, ToolSchema

__all__ = [
    "AnswerStream",
    "ParsedReply",
    "parse_reply",
    "plain_turns",
    "render_tool_prompt",
    "reply_schema",
    "to_plain_messages",
]

HEADER = (
    "You can use tools. Reply with exactly one JSON object and nothing else:\n"
    '- to call a tool: {"tool": "<tool name>", "arguments": {<arguments>}}\n'
    '- to answer the user: {"answer": "<your answer>"}\n'
    "After a tool call you will get its result, then reply again.\n"
    "Tools:"
)


def _function(schema: ToolSchema) -> dict[str, Any]:
    function = schema.get("function", schema)
    return function if isinstance(function, dict) else {}


def _type_name(schema: dict[str, Any]) -> str:
    """A short type for the prompt: ``string``, ``one of: a, b``, ``array of number``."""
    if "enum" in schema:
        return "one of: " + ", ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"array of {_type_name(schema['items'])}"
    return "/".join(kind) if isinstance(kind, list) else str(kind)


def _argument_lines(parameters: dict[str, Any]) -> list[str]:
    required = set(parameters.get("required") or ())
    lines = []
    for name, prop in (parameters.get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        need = "required" if name in required else "optional"
        about = f": {prop['description']}" if prop.get("description") else ""
        lines.append(f"  - {name} ({_type_name(prop)}, {need}){about}")
    return lines or ["  (no arguments)"]


def render_tool_prompt(tools: Sequence[ToolSchema]) -> str:
    """The tool instructions: each tool, then one line per argument.

    A compact listing rather than each JSON schema (the customer-service
    example's two account tools went from 324 to 224 prompt tokens, and
    every token is prefill time on the fast tier): the reply is constrained
    to the full schemas anyway (`reply_schema`), so the prompt only has to
    say what to call.
    """
    lines = [HEADER]
    for schema in tools:
        fn = _function(schema)
        about = fn.get("description")
        lines.append(f"- {fn.get('name')}: {about}" if about else f"- {fn.get('name')}")
        lines += _argument_lines(fn.get("parameters") or {})
    return "\n".join(lines)


def reply_schema(
    tools: Sequence[ToolSchema], answer: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON schema of a reply: one branch per tool, plus the answer branch.

    Args:
        tools: The tools the model may call.
        answer: The answer's own schema (an agent's ``output_type``); None: a string.
    """
    branches: list[dict[str, Any]] = []
    for schema in tools:
        fn = _function(schema)
        branches.append(
            {
                "type": "object",
                "properties": {
                    "tool": {"const": fn.get("name")},
                    "arguments": fn.get("parameters") or {"type": "object"},
                },
                "required": ["tool", "arguments"],
                "additionalProperties": False,
            }
        )
    branches.append(
        {
            "type": "object",
            "properties": {"answer": answer if answer is not None else {"type": "string"}},
            "required": ["answer"],
            "additionalProperties": False,
        }
    )
    return {"anyOf": branches}


def _call_json(call: ToolCall) -> str:
    try:
        arguments = json.loads(call.function.arguments or "{}")
    except ValueError:
        arguments = call.function.arguments
    return json.dumps({"tool": call.function.name, "arguments": arguments}, ensure_ascii=False)


def plain_turns(messages: Sequence[Message]) -> list[Message]:
    """Tool calls and tool results rewritten as plain assistant and user turns, one for one."""
    out: list[Message] = []
    names: dict[str, str] = {}
    for message in messages:
        if message.role == "assistant" and message.tool_calls:
            names.update({c.id: c.function.name for c in message.tool_calls})
            text = "\n".join(_call_json(c) for c in message.tool_calls)
            out.append(Message.assistant(text))
        elif message.role == "tool":
            name = names.get(message.tool_call_id or "", "tool")
            head = f"Tool result ({name}, call {message.tool_call_id}): "
            out.append(Message.user(head + (message.content or "")))
        else:
            out.append(message)
    return out


def to_plain_messages(messages: Sequence[Message], tools: Sequence[ToolSchema]) -> list[Message]:
    """Messages a tool-less chat template can render, with the tools described.

    Tool turns become plain turns (`plain_turns`). The tool instructions go
    in a system message just before the latest user message (tool results,
    which become user turns here, do not count), not into the first system
    prompt: a turn that shows tools then leaves the conversation before it
    unchanged, so the engine's prefix cache still covers it and only the new
    turn is prefilled.
    """
    prompt = render_tool_prompt(tools)
    out = plain_turns(messages)  # out[i] renders messages[i], so indices carry over
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last_user is not None:
        out.insert(last_user, Message.system(prompt))
    elif out and out[0].role == "system":
        out.insert(1, Message.system(prompt))
    else:
        out.insert(0, Message.system(prompt))
    return out


@dataclass(frozen=True)
class ParsedReply:
    """A decoded reply: either an answer or a tool call."""

    answer: str | None = None
    call: ToolCall | None = None


def parse_reply(text: str, call_id: str) -> ParsedReply:
    """Decode a reply; text that is not the JSON format counts as a plain answer."""
    try:
        data = json.loads(text)
    except ValueError:
        return ParsedReply(answer=text)
    if isinstance(data, dict) and isinstance(data.get("tool"), str):
        arguments = data.get("arguments", {})
        encoded = json.dumps(arguments) if not isinstance(arguments, str) else arguments
        return ParsedReply(call=ToolCall.of(call_id, data["tool"], encoded))
    if isinstance(data, dict) and isinstance(data.get("answer"), str):
        return ParsedReply(answer=data["answer"])
    if isinstance(data, dict) and "answer" in data:  # a typed answer: its JSON is the text
        return ParsedReply(answer=json.dumps(data["answer"], ensure_ascii=False))
    return ParsedReply(answer=text)


_ANSWER = re.compile(r'\s*\{\s*"answer"\s*:\s*"')
_VALUE = re.compile(r'\s*\{\s*"answer"\s*:\s*[^\s"]')
_TOOL = re.compile(r'\s*\{\s*"tool"')
_INCOMPLETE_ESCAPE = re.compile(r"(?<!\\)(\\\\)*\\(u[0-9a-fA-F]{0,3})?$")


class AnswerStream:
    """Unwraps ``{"answer": "..."}`` while it streams, so the answer reaches the user early.

    ``mode`` becomes ``answer`` (text released as decoded), ``tool`` or
    ``value`` (a typed answer, ``{"answer": {...}}``: held back for
    `parse_reply`) or ``text`` (not the JSON format: passed through).
    """

    def __init__(self) -> None:
        self.raw = ""
        self.mode: Literal["unknown", "answer", "tool", "value", "text"] = "unknown"
        self._start = 0
        self._sent = 0

    def feed(self, delta: str) -> str:
        """Add raw model output; return the answer text now decodable."""
        self.raw += delta
        if self.mode == "unknown":
            self._classify()
        if self.mode == "text":
            out, self._sent = self.raw[self._sent :], len(self.raw)
            return out
        if self.mode != "answer":
            return ""
        decoded = self._decoded()
        out = decoded[self._sent :]
        self._sent = len(decoded)
        return out

    def _classify(self) -> None:
        stripped = self.raw.lstrip()
        if not stripped:
            return
        if match := _ANSWER.match(self.raw):
            self.mode, self._start = "answer", match.end()
        elif _TOOL.match(self.raw):
            self.mode = "tool"
        elif _VALUE.match(self.raw):
            self.mode = "value"
        elif not stripped.startswith("{") or len(stripped) > 16:
            self.mode = "text"

    def _decoded(self) -> str:
        body = self.raw[self._start :]
        end = re.search(r'(?<!\\)(\\\\)*"', body)
        body = body[: end.end() - 1] if end else _INCOMPLETE_ESCAPE.sub("", body)
        try:
            return str(json.loads(f'"{body}"'))
        except ValueError:
            return ""
