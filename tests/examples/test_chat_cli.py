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


def test_chat_asks_the_operator_about_a_call_that_needs_approval() -> None:
    from tests.agentkit import _approval_agent as bank

    bank.REFUNDS.clear()
    agent = bank.approval_agent(250.0)
    lines = iter(["refund my 250 EUR\n", "y\n", "refund again\n", "n\n", ""])
    out = io.StringIO()
    turns = anyio.run(lambda: chat_loop(agent, lambda: next(lines), out, session_id="c"))
    text = out.getvalue()
    assert turns == 2
    assert text.count('approve refund {"amount": 250.0, "reason": "charged twice"}? [y/N]') == 2
    assert "Done: refunded 250.00 EUR" in text and "| awaiting_approval |" in text
    assert "a person rejected this call" in text  # the second one was turned down
    assert bank.REFUNDS == [250.0]


def test_warm_up_is_runner_start() -> None:
    from agentkit.cli import warm_up
    from agentkit.results import Warmup

    report = anyio.run(warm_up, Agent(fast=ScriptedModel(["x"])))
    assert isinstance(report, Warmup) and "fast" in report.parts_ms
