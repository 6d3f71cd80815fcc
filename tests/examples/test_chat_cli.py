"""``agentkit chat``: one turn per stdin line, answer then footer; EOF ends the loop."""

from __future__ import annotations

import io

import anyio

from agentkit import ScriptedModel
from agentkit._agent import Agent
from agentkit.cli._chat import chat_loop


def test_chat_loop_answers_each_line_with_a_footer() -> None:
    agent = Agent(fast=ScriptedModel(["Hello there.", "Fine, thanks."]))
    lines = iter(["hi\n", "\n", "how are you?\n", ""])
    out = io.StringIO()
    turns = anyio.run(lambda: chat_loop(agent, lambda: next(lines), out))
    text = out.getvalue()
    assert turns == 2
    assert "Hello there." in text and "Fine, thanks." in text
    assert text.count("| ok |") == 2 and "[fast: routine" in text
