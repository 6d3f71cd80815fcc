"""Approvals: a tool call that needs a person's decision stops the turn; `Runner.resume` goes on."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from agentkit import Message, ScriptedModel, ToolCall
from agentkit._agent import Agent
from agentkit._approval_types import Approval, PendingTurn
from agentkit._errors import ApprovalError, ApprovalExpiredError, ConfigError
from agentkit._runner import Runner
from agentkit._sessions import SCHEMA_VERSION, InMemoryStore, SQLiteStore
from agentkit._turn_events import ApprovalEvent, ResultEvent, ToolEndEvent
from tests.agentkit import _approval_agent as bank
from tests.agentkit._approval_agent import approval_agent, refund_tool
from tests.agentkit._loop_filters import KeywordFilter
from tools import Tool, ToolDefinitionError, calculator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_refunds() -> None:
    bank.REFUNDS.clear()


def _history(agent: Agent, session_id: str) -> list[Message]:
    return anyio.run(lambda: agent.store.load(session_id, max_chars=100_000))


def test_a_call_that_needs_approval_ends_the_turn_and_runs_nothing() -> None:
    agent = approval_agent(250.0)
    result = Runner.run_sync(agent, "refund my 250 EUR", session_id="s1")
    assert result.outcome == "awaiting_approval"
    [request] = result.approvals
    assert (request.call_id, request.tool, request.session_id) == ("call_1", "refund", "s1")
    assert json.loads(request.arguments) == {"amount": 250.0, "reason": "charged twice"}
    assert request.expires_at > time.time() + agent.approval_ttl_s - 60
    assert bank.REFUNDS == []  # nothing ran
    assert result.session_saved is True and result.session_id == "s1"
    pending = anyio.run(agent.store.load_pending, "s1")
    assert pending is not None and pending.turn_id == result.turn_id
    assert _history(agent, "s1") == []  # the turn joins the history once finished


def test_the_predicate_holds_only_what_it_says() -> None:
    result = Runner.run_sync(approval_agent(40.0), "refund my 40 EUR", session_id="s1")
    assert (result.outcome, result.text) == ("ok", "Done: refunded 40.00 EUR")
    assert bank.REFUNDS == [40.0] and result.approvals == []


def test_an_approved_call_runs_on_resume_and_the_whole_turn_is_stored() -> None:
    agent = approval_agent(250.0)
    stopped = Runner.run_sync(agent, "refund my 250 EUR", session_id="s1")
    resumed = Runner.resume_sync(agent, "s1", [Approval.approve("call_1")], budget_ms=800)
    assert (resumed.outcome, resumed.text) == ("ok", "Done: refunded 250.00 EUR")
    assert bank.REFUNDS == [250.0]
    assert resumed.turn_id == stopped.turn_id and resumed.budget_ms == 800
    assert resumed.elapsed_ms < 800 and resumed.session_saved is True
    history = _history(agent, "s1")
    assert [m.role for m in history] == ["user", "assistant", "tool", "assistant"]
    assert history[1].tool_calls is not None and history[1].tool_calls[0].id == "call_1"
    assert history[2] == Message.tool("call_1", "refunded 250.00 EUR")
    assert anyio.run(agent.store.load_pending, "s1") is None


def test_a_rejected_call_does_not_run_and_the_model_reads_why() -> None:
    agent = approval_agent(250.0)
    Runner.run_sync(agent, "refund my 250 EUR", session_id="s1")
    result = Runner.resume_sync(agent, "s1", Approval.reject("call_1", "over the daily limit"))
    assert bank.REFUNDS == []
    assert result.outcome == "ok"
    assert result.text.startswith("Done: Not run: a person rejected this call.")
    assert "over the daily limit" in result.text


def test_decisions_that_do_not_match_the_waiting_calls_are_typed_errors() -> None:
    agent = approval_agent(250.0)
    Runner.run_sync(agent, "refund my 250 EUR", session_id="s1")
    with pytest.raises(ApprovalError) as unknown:
        Runner.resume_sync(agent, "s1", [Approval.approve("call_1"), Approval.approve("nope")])
    assert unknown.value.call_ids == ("nope",) and unknown.value.session_id == "s1"
    with pytest.raises(ApprovalError) as undecided:
        Runner.resume_sync(agent, "s1", [])
    assert undecided.value.call_ids == ("call_1",)
    assert bank.REFUNDS == []  # nothing ran, and the turn still waits:
    assert Runner.resume_sync(agent, "s1", [Approval.approve("call_1")]).outcome == "ok"


def test_resuming_a_finished_turn_or_an_unknown_session_is_a_typed_error() -> None:
    agent = approval_agent(250.0)
    Runner.run_sync(agent, "refund my 250 EUR", session_id="s1")
    Runner.resume_sync(agent, "s1", [Approval.approve("call_1")])
    with pytest.raises(ApprovalError, match="no turn is waiting"):
        Runner.resume_sync(agent, "s1", [Approval.approve("call_1")])
    with pytest.raises(ApprovalError):
        Runner.resume_sync(agent, "never-used", [])
    assert bank.REFUNDS == [250.0]


def test_a_turn_that_waited_too_long_expires() -> None:
    agent = approval_agent(250.0, approval_ttl_s=0.05)
    Runner.run_sync(agent, "refund my 250 EUR", session_id="s1")
    time.sleep(0.1)
    with pytest.raises(ApprovalExpiredError):
        Runner.resume_sync(agent, "s1", [Approval.approve("call_1")])
    with pytest.raises(ApprovalError, match="no turn is waiting"):  # dropped
        Runner.resume_sync(agent, "s1", [Approval.approve("call_1")])
    assert bank.REFUNDS == []


def test_the_rest_of_a_round_runs_and_only_the_held_call_waits() -> None:
    calls = [
        ToolCall.of("small", "refund", '{"amount": 20, "reason": "twice"}'),
        ToolCall.of("big", "refund", '{"amount": 500, "reason": "fraud"}'),
        ToolCall.of("calc", "calculator", '{"expression": "500 - 20"}'),
    ]
    fast = ScriptedModel([calls, "All done."])
    agent = Agent(fast=fast, tools=[refund_tool(), calculator])
    stopped = Runner.run_sync(agent, "refund both", session_id="s1")
    assert [r.call_id for r in stopped.approvals] == ["big"]
    assert bank.REFUNDS == [20.0]
    result = Runner.resume_sync(agent, "s1", [Approval.approve("big")])
    assert (result.outcome, result.text, bank.REFUNDS) == ("ok", "All done.", [20.0, 500.0])
    tool_results = {m.tool_call_id: m.content for m in fast.calls[-1].messages if m.role == "tool"}
    assert tool_results == {
        "small": "refunded 20.00 EUR",
        "calc": "480",
        "big": "refunded 500.00 EUR",
    }


def test_a_turn_without_a_session_is_resumed_by_its_result_session_id() -> None:
    agent = approval_agent(250.0)
    stopped = Runner.run_sync(agent, "refund my 250 EUR")
    assert stopped.session_id == f"turn-{stopped.turn_id}"
    assert stopped.approvals[0].session_id == stopped.session_id
    assert stopped.session_id is not None
    result = Runner.resume_sync(agent, stopped.session_id, [Approval.approve("call_1")])
    assert result.outcome == "ok" and bank.REFUNDS == [250.0]


def test_the_stream_announces_the_approval_request() -> None:
    agent = approval_agent(250.0)

    async def main() -> list[object]:
        return [e async for e in Runner.stream(agent, "refund my 250 EUR", session_id="s")]

    events = anyio.run(main)
    approvals = [e for e in events if isinstance(e, ApprovalEvent)]
    assert len(approvals) == 1 and approvals[0].requests[0].call_id == "call_1"
    assert isinstance(events[-1], ResultEvent)
    assert events.index(approvals[0]) == len(events) - 2
    assert not [e for e in events if isinstance(e, ToolEndEvent)]  # the held call never ran


def test_a_resumed_turn_can_stop_for_approval_again() -> None:
    calls = iter(["first", "second"])

    def reply(call: object) -> ToolCall | str:
        results = [m for m in call.messages if m.role == "tool"]  # type: ignore[attr-defined]
        if len(results) < 2:
            return ToolCall.of(next(calls), "refund", '{"amount": 300, "reason": "fraud"}')
        return "Both refunded."

    from agentkit import FunctionModel

    agent = Agent(fast=FunctionModel(reply), tools=[refund_tool()])
    first = Runner.run_sync(agent, "refund twice", session_id="s1")
    again = Runner.resume_sync(agent, "s1", [Approval.approve("first")])
    assert again.outcome == "awaiting_approval" and again.approvals[0].call_id == "second"
    done = Runner.resume_sync(agent, "s1", [Approval.approve("second")])
    assert (done.outcome, done.text, bank.REFUNDS) == ("ok", "Both refunded.", [300.0, 300.0])
    assert first.turn_id == again.turn_id == done.turn_id


@pytest.mark.parametrize(
    "approvals",
    ["call_1", [("call_1", True)], [Approval.approve("a"), Approval.reject("a")], 7],
)
def test_decisions_of_the_wrong_shape_are_config_errors(approvals: object) -> None:
    agent = approval_agent(250.0)
    Runner.run_sync(agent, "refund my 250 EUR", session_id="s1")
    with pytest.raises(ConfigError) as caught:
        Runner.resume_sync(agent, "s1", approvals)  # type: ignore[arg-type]
    assert caught.value.field == "approvals"


class NoPendingStore(InMemoryStore):
    async def save_pending(self, session_id: str, turn: PendingTurn) -> None:
        raise OSError("disk full")


def test_a_waiting_turn_that_cannot_be_saved_is_degraded_not_left_waiting() -> None:
    agent = approval_agent(250.0, NoPendingStore())
    result = Runner.run_sync(agent, "refund my 250 EUR", session_id="s1")
    assert (result.outcome, result.text, result.approvals) == ("degraded", agent.holding_reply, [])
    assert result.session_saved is False
    assert any(r.startswith("approval request not saved: OSError") for r in result.reasons)


def test_tool_call_arguments_are_stored_redacted() -> None:
    call = ToolCall.of("c1", "calculator", '{"expression": "1+1", "note": "ada@example.com"}')
    agent = Agent(fast=ScriptedModel([call, "Two."]), tools=[calculator], safety=KeywordFilter())
    Runner.run_sync(agent, "add", session_id="s1")
    stored = _history(agent, "s1")[1].tool_calls
    assert stored is not None and "ada@example.com" not in stored[0].function.arguments
    assert "[EMAIL]" in stored[0].function.arguments


def test_a_waiting_turn_survives_a_process_restart_with_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    child = subprocess.run(
        [sys.executable, "-m", "tests.agentkit._approval_agent", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    stopped = json.loads(child.stdout.strip().splitlines()[-1])
    assert stopped["outcome"] == "awaiting_approval"
    store = SQLiteStore(db)  # this process never saw the turn
    agent = approval_agent(250.0, store)
    result = Runner.resume_sync(agent, "s1", [Approval.approve(stopped["approvals"][0]["call_id"])])
    assert (result.outcome, result.text) == ("ok", "Done: refunded 250.00 EUR")
    assert result.turn_id == stopped["turn_id"] and bank.REFUNDS == [250.0]
    assert [m.role for m in _history(agent, "s1")] == ["user", "assistant", "tool", "assistant"]


# The session schema as agentkit 0.1 created it (before approvals): version 0.
_OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    chars INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_session ON messages (session_id, id);
"""


def test_a_database_of_the_old_schema_is_migrated(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as old:
        old.executescript(_OLD_SCHEMA)
        rows = [Message.user("hello"), Message.assistant("hi there")]
        old.executemany(
            "INSERT INTO messages (session_id, chars, body) VALUES (?, ?, ?)",
            [("s1", len(m.content or ""), m.model_dump_json(exclude_none=True)) for m in rows],
        )
    store = SQLiteStore(db)
    assert store.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 1
    agent = approval_agent(250.0, store)
    assert _history(agent, "s1") == rows  # the old history is intact
    stopped = Runner.run_sync(agent, "refund my 250 EUR", session_id="s1")
    assert stopped.outcome == "awaiting_approval"
    store.close()
    reopened = SQLiteStore(db)  # migrating twice is a no-op
    result = Runner.resume_sync(approval_agent(250.0, reopened), "s1", [Approval.approve("call_1")])
    assert result.outcome == "ok"
    history = anyio.run(lambda: reopened.load("s1", max_chars=10_000))
    assert history[:2] == rows and len(history) == 6


def test_a_database_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    with sqlite3.connect(db) as newer:
        newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigError, match="newer"):
        SQLiteStore(db)


def test_needs_approval_must_be_a_bool_or_a_predicate() -> None:
    with pytest.raises(ToolDefinitionError, match="needs_approval"):
        Tool.from_function(lambda: 1, name="one", needs_approval="yes")  # type: ignore[arg-type]


def test_a_predicate_that_raises_asks_for_approval() -> None:
    def broken(args: object) -> bool:
        raise ValueError("bug in the rule")

    tool = Tool.from_model(bank.Refund, lambda r: "ok", name="refund", needs_approval=broken)
    assert tool.requires_approval(bank.Refund(amount=1, reason="x")) is True
    assert refund_tool().requires_approval(bank.Refund(amount=1, reason="x")) is False


def test_invalid_arguments_are_not_held_the_model_reads_the_error() -> None:
    bad = ToolCall.of("c1", "refund", '{"amount": "lots"}')
    fast = ScriptedModel([bad, "Sorry."])
    result = Runner.run_sync(Agent(fast=fast, tools=[refund_tool()]), "refund", session_id="s")
    assert (result.outcome, result.text) == ("ok", "Sorry.")
    tool_message = next(m for m in fast.calls[1].messages if m.role == "tool")
    assert "Invalid arguments" in (tool_message.content or "")
