"""The banking-support example: routing, grounding, ledger tools, PII and the holding reply."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit import FunctionModel, ScriptedModel, ToolCall
from agentkit._doubles import ModelCall
from agentkit._runner import Runner
from agentkit.approvals import Approval
from agentkit.cli._chat import turn_record
from examples.customer_service import (
    HOLDING_REPLY,
    SCRIPT,
    Ledger,
    build_agent,
    create_ledger,
    load_script,
    run_script,
)
from examples.customer_service._bank import RefundRequest
from tools import ToolArgumentError

CARD = "4111 1111 1111 1111"
EMAIL = "ada@example.com"


def _texts(call: ModelCall) -> str:
    parts = [m.content or "" for m in call.messages]
    parts += [c.function.arguments for m in call.messages for c in (m.tool_calls or ())]
    return "\n".join(parts)


def _run(agent: Any, text: str, **kw: Any) -> Any:
    return anyio.run(lambda: Runner.run(agent, text, session_id="s", **kw))


def test_first_scripted_turn_is_answered_by_quoting_the_kb(tmp_path: Path) -> None:
    fast = FunctionModel(lambda call: "a guess")
    deep = ScriptedModel([])
    agent = build_agent(fast=fast, deep=deep, db_path=tmp_path / "bank.db")
    result = _run(agent, SCRIPT[0].text)
    assert (result.outcome, result.tier) == ("ok", "fast")
    assert "daily ATM withdrawal limit is 500 EUR" in result.text
    assert fast.calls == [] and deep.calls == []  # a quote: no model call at all
    assert result.check is not None and result.check.action == "released"


def test_generating_fast_tier_gets_the_passage_and_is_checked(tmp_path: Path) -> None:
    fast = FunctionModel(lambda call: "500 EUR per day.")
    deep = ScriptedModel([])
    agent = build_agent(fast=fast, deep=deep, db_path=tmp_path / "bank.db", extract=False)
    result = _run(agent, SCRIPT[0].text)
    assert (result.outcome, result.tier, result.text) == ("ok", "fast", "500 EUR per day.")
    assert result.check is not None and result.check.action == "released"
    assert [(c.text, c.supported) for c in result.check.checked] == [("500 EUR", True)]
    assert deep.calls == []
    (call,) = fast.calls
    grounding = [m.content or "" for m in call.messages if m.role == "system"]
    assert any("ATM withdrawal limit is 500 EUR" in g for g in grounding)
    assert call.tools == ()  # no account named: the fast path sends no tool schemas


def test_account_lookup_reads_the_ledger_and_redacts_the_email(tmp_path: Path) -> None:
    fast = ScriptedModel(
        [ToolCall.of("c1", "account_lookup", '{"account_id": "ACC-1001"}'), "Balance 1250.40 EUR."]
    )
    agent = build_agent(fast=fast, deep=ScriptedModel([]), db_path=tmp_path / "bank.db")
    result = _run(agent, "Please look up account ACC-1001.")
    assert result.outcome == "ok"
    assert {t["function"]["name"] for t in fast.calls[0].tools} == {"account_lookup", "refund"}
    tool_msg = next(m for m in fast.calls[1].messages if m.role == "tool")
    data = json.loads(tool_msg.content or "")
    assert data["balance"] == "1250.40" and [p["id"] for p in data["payments"]][:1] == ["TX-5001"]
    assert EMAIL not in (tool_msg.content or "")  # tool results are PII-redacted too


def test_refund_is_validated_against_the_ledger(tmp_path: Path) -> None:
    ledger = Ledger(create_ledger(tmp_path / "bank.db"))
    with pytest.raises(ToolArgumentError, match="exceeds"):
        ledger.refund("ACC-1001", "TX-5003", "129.01", "charged twice")
    with pytest.raises(ToolArgumentError, match="no payment"):
        ledger.refund("ACC-1002", "TX-5003", "10", "wrong account")
    with pytest.raises(ToolArgumentError, match="positive"):
        ledger.refund("ACC-1001", "TX-5003", "-5", "negative")
    assert ledger.refund("ACC-1001", "TX-5003", "100", "partial")["left"] == "29.00"
    with pytest.raises(ToolArgumentError, match=r"\(29\.00\)"):
        ledger.refund("ACC-1001", "TX-5003", "30", "again")
    after = ledger.lookup("ACC-1001")
    assert after["balance"] == "1350.40"
    assert [p["refunded"] for p in after["payments"]] == ["0.00", "0.00", "100.00"]


def test_deep_tier_refund_round_trip_and_pii_never_leaves(tmp_path: Path) -> None:
    db = tmp_path / "bank.db"
    bad = ToolCall.of(
        "r1",
        "refund",
        json.dumps(
            {
                "account_id": "ACC-1001",
                "transaction_id": "TX-5003",
                "amount": "258.00",
                "reason": "charged twice",
            }
        ),
    )
    good = ToolCall.of(
        "r2",
        "refund",
        json.dumps(
            {
                "account_id": "ACC-1001",
                "transaction_id": "TX-5003",
                "amount": "129.00",
                "reason": "charged twice",
            }
        ),
    )
    deep = ScriptedModel([bad, good, "129.00 EUR is refunded now."], name="deep-double")
    fast = FunctionModel(lambda call: "should not run")
    agent = build_agent(fast=fast, deep=deep, db_path=db, budget_ms=5000)
    text = SCRIPT[4].text + f" My card is {CARD}."
    # Both refunds are above the instant limit: each waits for a specialist.
    stopped = _run(agent, text)
    assert (stopped.outcome, stopped.tier) == ("awaiting_approval", "deep")
    assert "dispute" in stopped.hops[0].reason
    assert [r.call_id for r in stopped.approvals] == ["r1"]
    assert _refunds(db) == ["0.00", "0.00", "0.00"]  # nothing booked while it waits
    again = anyio.run(Runner.resume, agent, "s", [Approval.approve("r1")])
    assert again.outcome == "awaiting_approval" and again.approvals[0].call_id == "r2"
    result = anyio.run(Runner.resume, agent, "s", [Approval.approve("r2")])
    assert (result.outcome, result.tier) == ("ok", "deep")
    assert fast.calls == []
    assert len(deep.calls) == 3
    for call in deep.calls:
        sent = _texts(call)
        assert EMAIL not in sent and "4111" not in sent
        assert not re.search(r"\b\d{4} \d{4} \d{4} \d{4}\b", sent)
    tool_results = [m.content or "" for m in deep.calls[2].messages if m.role == "tool"]
    assert "exceeds" in tool_results[0] and json.loads(tool_results[1])["refunded"] == "129.00"
    assert _refunds(db) == ["0.00", "0.00", "129.00"]  # only the valid refund was booked


def _refunds(db: Path) -> list[str]:
    return [str(p["refunded"]) for p in Ledger(db).lookup("ACC-1001")["payments"]]  # type: ignore[attr-defined]


def _refund_call(call_id: str, amount: str) -> ToolCall:
    arguments = {
        "account_id": "ACC-1001",
        "transaction_id": "TX-5001",
        "amount": amount,
        "reason": "not received",
    }
    return ToolCall.of(call_id, "refund", json.dumps(arguments))


def test_refunds_up_to_the_instant_limit_are_booked_at_once(tmp_path: Path) -> None:
    db = tmp_path / "bank.db"
    fast = ScriptedModel([_refund_call("r1", "42.90"), "Refunded."])
    agent = build_agent(fast=fast, deep=None, db_path=db)
    tool = agent.registry.get("refund")
    assert tool is not None
    ask = RefundRequest(account_id="ACC-1001", transaction_id="TX-5001", amount="", reason="x")
    assert [tool.requires_approval(ask.model_copy(update={"amount": a})) for a in
            ("100.00", "100.01", "1e3", "lots")] == [False, True, True, False]  # fmt: skip
    result = _run(agent, "Please refund TX-5001 on ACC-1001: it never arrived.")
    assert result.approvals == [] and result.outcome != "awaiting_approval"
    assert (
        json.loads(next(m.content or "" for m in fast.calls[1].messages if m.role == "tool"))[
            "refunded"
        ]
        == "42.90"
    )


def test_a_rejected_refund_is_not_booked_and_the_model_reads_why(tmp_path: Path) -> None:
    db = tmp_path / "bank.db"
    fast = ScriptedModel([_refund_call("r1", "129.00"), "A specialist declined it."])
    agent = build_agent(fast=fast, deep=None, db_path=db)
    stopped = _run(agent, "Please refund 129 EUR of TX-5002 on ACC-1001.")
    assert stopped.outcome == "awaiting_approval"
    result = anyio.run(Runner.resume, agent, "s", [Approval.reject("r1", "not a duplicate")])
    assert result.outcome != "awaiting_approval" and len(fast.calls) == 2
    tool_msg = next(m.content or "" for m in fast.calls[1].messages if m.role == "tool")
    assert "not a duplicate" in tool_msg and _refunds(db) == ["0.00", "0.00", "0.00"]


def test_holding_reply_when_the_deep_tier_is_over_budget(tmp_path: Path) -> None:
    deep = ScriptedModel(["too late"], delay_s=5.0)
    inner_fast = FunctionModel(lambda call: "a guess")
    agent = build_agent(fast=inner_fast, deep=deep, db_path=tmp_path / "bank.db", budget_ms=400)
    result = _run(agent, SCRIPT[5].text)
    assert result.outcome == "degraded"
    assert result.text == HOLDING_REPLY
    assert [h.tier for h in result.hops] == ["deep", "fast"]
    assert inner_fast.calls == []  # the fast tier declines disputes: no made-up numbers


def test_without_a_deep_tier_the_fast_tier_answers_disputes(tmp_path: Path) -> None:
    fast = FunctionModel(lambda call: "Refunds take up to 10 business days.")
    agent = build_agent(fast=fast, db_path=tmp_path / "bank.db")
    assert agent.deep is None
    result = _run(agent, SCRIPT[5].text)
    assert (result.outcome, result.tier, len(fast.calls)) == ("ok", "fast", 1)


def test_script_file_and_json_records(tmp_path: Path) -> None:
    path = tmp_path / "turns.jsonl"
    lines = [{"session": "a", "text": "hi"}, {"session": "b", "text": "fees?", "budget_ms": 900}]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    turns = load_script(path)
    assert [(t.session, t.budget_ms) for t in turns] == [("a", None), ("b", 900)]
    fast = FunctionModel(lambda call: "ok")
    agent = build_agent(fast=fast, deep=ScriptedModel([]), db_path=tmp_path / "bank.db")
    results = anyio.run(lambda: run_script(agent, turns))
    records = [turn_record(r) for r in results]
    assert [r["budget_ms"] for r in records] == [3000.0, 900]
    assert all(r["hops"][0]["tier"] == "fast" for r in records)
    json.dumps(records)  # JSON-ready


def test_scripted_turn_on_the_embedded_model(engine: Any, tmp_path: Path) -> None:
    from agentkit._engine_model import EngineModel

    fast = EngineModel(engine, name="smollm2")
    agent = build_agent(
        fast=fast,
        deep=ScriptedModel([]),
        db_path=tmp_path / "bank.db",
        budget_ms=600_000,
        max_tokens=12,
    )
    (result,) = anyio.run(lambda: run_script(agent, load_script(None)[:1]))
    assert (result.outcome, result.tier) == ("ok", "fast")
    assert result.text.strip()
    assert result.usage["fast"].usage.completion_tokens <= 12
