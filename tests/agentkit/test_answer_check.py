"""The answer check: claims, numbers, and what a turn does with an unsupported answer."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit import Agent, FunctionModel, Runner, ScriptedModel, ToolCall
from agentkit._claims import check_claims
from agentkit._numbers import holds, normalise
from agentkit.answers import AnswerCheck, Grounding
from agentkit.errors import ConfigError, ModelUnavailableError
from agentkit.events import TextEvent
from tools import KnowledgeBase, Passage, calculator

KB = KnowledgeBase(
    [
        Passage(source="cards.md", heading="Limits", text="The daily ATM limit is 500 EUR."),
        Passage(
            source="cards.md",
            heading="Lost card",
            text="Freeze the card in the app (Cards > Freeze). A new card arrives in 5 business "
            "days.",
        ),
        Passage(source="fees.md", heading="Fees", text="Merchant fees are not refundable."),
    ]
)
GROUNDING = Grounding(KB, embed=None)


def _claims(text: str) -> list[tuple[str, str, bool]]:
    sources = [p.text for p in KB.passages]
    return [(c.kind, c.text, c.supported) for c in check_claims(text, sources)]


@pytest.mark.parametrize(
    ("text", "phrase", "held"),
    [
        ("up to 15 000 EUR", "15,000", True),
        ("up to 15,000 EUR", "15000", True),
        ("arrives in five days", "5 days", True),
        ("costs 1.5% of it", "5", False),
        ("until 22:15", "15", False),
        ("8 per cent a year", "8%", True),
        ("It is 129.00 EUR", "129", True),
        ("It is freezing", "freeze", False),
    ],
)
def test_facts_match_at_word_boundaries_with_numbers_normalised(
    text: str, phrase: str, held: bool
) -> None:
    assert holds(text, phrase) is held


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.integers(min_value=1000, max_value=10**9), st.sampled_from([",", " ", "\u202f"]))
def test_grouped_numbers_normalise_to_plain_digits(value: int, sep: str) -> None:
    grouped = f"{value:,}".replace(",", sep)
    assert normalise(f"up to {grouped} EUR") == f"up to {value} EUR"


def test_claims_numbers_units_names_and_negations() -> None:
    assert _claims("The ATM limit is 500 euros.") == [
        ("name", "ATM", True),
        ("number", "500 euros", True),
    ]
    assert _claims("A new card arrives in 5 weeks.") == [("number", "5 weeks", False)]
    assert _claims("A new card arrives in five business days.")[0][2] is True
    assert _claims("Use Settings > Security.") == [("name", "Settings > Security", False)]
    assert _claims("Use Cards > Freeze.") == [("name", "Cards > Freeze", True)]
    assert _claims("Merchant fees are refundable.") == [
        ("negation", "Merchant fees are refundable.", False)
    ]
    assert _claims("Merchant fees are not refundable.")[0][2] is True
    assert _claims("I can't look that up.") == []  # restates no source: no polarity claim


def test_a_currency_needs_its_amount_bare_or_with_that_currency() -> None:
    sources = ['{"balance": "1250.40"}', "Refunds take 10 business days.", "Fees are in EUR."]
    checked = check_claims("Balance 1250.40 EUR; a fee of 10 EUR.", sources)
    assert [(c.text, c.supported) for c in checked] == [("1250.4 EUR", True), ("10 EUR", False)]


def _agent(fast: Any, **kw: Any) -> Agent:
    check = kw.pop("check", AnswerCheck(GROUNDING))
    return Agent(fast=fast, answer_check=check, **kw)


def test_supported_answer_is_released_with_its_report() -> None:
    result = Runner.run_sync(_agent(ScriptedModel(["The limit is 500 EUR a day."])), "ATM limit?")
    assert (result.text, result.outcome, result.tier) == (
        "The limit is 500 EUR a day.",
        "ok",
        "fast",
    )
    assert result.check is not None and result.check.action == "released"
    assert [c.text for c in result.check.checked] == ["500 EUR"]
    assert result.check.unsupported == [] and result.check.sources >= 1


def test_unsupported_answer_is_replaced_by_a_quote_when_routed_fast() -> None:
    result = Runner.run_sync(_agent(ScriptedModel(["The limit is 800 EUR."])), "ATM limit?")
    assert result.text == "The daily ATM limit is 500 EUR."
    assert (result.outcome, result.tier) == ("ok", "fast")
    assert result.check is not None
    assert (result.check.action, result.check.reason) == ("extracted", "unsupported claim: 800 EUR")
    assert [c.text for c in result.check.unsupported] == ["800 EUR"]


def test_unsupported_answer_without_a_quote_gets_the_holding_reply() -> None:
    agent = _agent(
        ScriptedModel(["The limit is 800 EUR."]), check=AnswerCheck(GROUNDING, extract=False)
    )
    result = Runner.run_sync(agent, "ATM limit?")
    assert (result.text, result.outcome, result.tier) == (agent.holding_reply, "degraded", None)
    assert result.check is not None and result.check.action == "held"


def test_unsupported_answer_escalates_and_nothing_unchecked_is_streamed() -> None:
    deep = ScriptedModel(["The daily limit is 500 EUR."], name="deep")
    agent = _agent(ScriptedModel(["Sure. The limit is 800 EUR. Anything else?"]), deep=deep)

    async def main() -> tuple[list[str], Any]:
        texts, result = [], None
        async for event in Runner.stream(agent, "What is the ATM limit?"):
            if isinstance(event, TextEvent):
                texts.append(event.text)
            result = getattr(event, "result", result)
        return texts, result

    texts, result = anyio.run(main)
    assert "800" not in "".join(texts)
    assert [h.tier for h in result.hops] == ["fast", "deep"]
    assert result.hops[1].reason == "unsupported claim: 800 EUR"
    assert result.text == "Sure. The daily limit is 500 EUR."  # the checked "Sure." stands
    assert result.check.action == "escalated"
    # the deep tier continues what the user saw, never what the check held back
    (call,) = deep.calls
    assert [m.content for m in call.messages if m.role == "assistant"] == ["Sure. "]


def test_empty_fast_answer_escalates_or_holds() -> None:
    deep = ScriptedModel(["Deep answer."], name="deep")
    result = Runner.run_sync(_agent(ScriptedModel([""]), deep=deep), "What is the weather?")
    assert (result.tier, result.check.reason) == ("deep", "fast tier gave no answer")
    result = Runner.run_sync(_agent(ScriptedModel([""])), "What is the weather?")
    assert result.outcome == "degraded" and result.check.action == "held"


def test_fallback_from_the_deep_tier_never_guesses() -> None:
    down = ScriptedModel([ModelUnavailableError("down")], name="deep")
    agent = _agent(ScriptedModel(["12."]), deep=down, router=_Deep())
    result = Runner.run_sync(agent, "How much is refunded for TX-5004?")
    assert [h.tier for h in result.hops] == ["deep", "fast"]
    assert (result.text, result.outcome) == (agent.holding_reply, "degraded")
    assert result.check is not None and result.check.action == "held"  # no quote either


def test_arithmetic_must_come_from_the_calculator() -> None:
    guessed = _agent(ScriptedModel(["12 * 7 = 88.8"]), tools=[calculator])
    result = Runner.run_sync(guessed, "What is 12 * 7?")
    assert result.outcome == "degraded" and "88.8" not in result.text
    assert [c.text for c in result.check.unsupported] == ["88.8"]
    computed = _agent(
        ScriptedModel([ToolCall.of("c1", "calculator", '{"expression": "12 * 7"}'), "It is 84."]),
        tools=[calculator],
    )
    result = Runner.run_sync(computed, "What is 12 * 7?")
    assert (result.text, result.outcome, result.check.action) == ("It is 84.", "ok", "released")


def test_check_config_is_validated() -> None:
    with pytest.raises(ConfigError):
        AnswerCheck(tiers=("mid",))  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        AnswerCheck(grounding=object())  # type: ignore[arg-type]


def test_check_span_is_traced() -> None:
    traces: list[Any] = []
    agent = _agent(ScriptedModel(["The limit is 800 EUR."]), trace_hook=traces.append)
    Runner.run_sync(agent, "ATM limit?")
    (span,) = [s for s in traces[0].spans if s.name == "check"]
    assert span.attributes["agentkit.check.action"] == "extracted"
    assert span.attributes["agentkit.check.unsupported"] == 1


class _Deep:
    """A router that sends every turn deep."""

    def route(self, context: Any) -> Any:
        from router import Decision

        return Decision("deep", {}, ("dispute",))

    def should_escalate(self, context: Any, stats: Any) -> None:
        return None


def test_tools_are_offered_only_where_they_may_apply() -> None:
    seen: list[list[str]] = []

    def reply(call: Any) -> str:
        seen.append([t["function"]["name"] for t in call.tools])
        return "Find its id with ps, then run kill with that id."

    agent = Agent(tools=[calculator], fast=FunctionModel(reply))
    result = Runner.run_sync(agent, "How do I kill a python process?")
    assert result.text.startswith("Find its id")
    Runner.run_sync(agent, "What is 12 * 7?")
    assert seen == [[], ["calculator"]]  # the README agent once answered "28.8" to the first


def _lookup(account_id: str) -> str:
    """Look up an account.

    Args:
        account_id: The account.
    """
    return '{"account": "ACC-1001", "balance": "1250.40", "plan": "standard"}'


def test_an_answer_after_tools_must_use_their_results() -> None:
    call = ToolCall.of("c1", "_lookup", '{"account_id": "ACC-1001"}')
    vague = _agent(ScriptedModel([call, "The account is not available."]), tools=[_lookup])
    result = Runner.run_sync(vague, "Please look up account ACC-1001.")
    assert (result.text, result.outcome) == (vague.holding_reply, "degraded")
    assert result.check.reason == "answer states nothing the tools returned"
    used = _agent(ScriptedModel([call, "Your balance is 1250.40 EUR."]), tools=[_lookup])
    result = Runner.run_sync(used, "Please look up account ACC-1001.")
    assert (result.text, result.outcome, result.check.action) == (
        "Your balance is 1250.40 EUR.",
        "ok",
        "released",
    )


def test_a_fast_tier_cut_by_the_deadline_with_nothing_said_gets_the_holding_reply() -> None:
    slow = ScriptedModel(["Too late."], delay_s=2.0)
    agent = _agent(slow, check=AnswerCheck(GROUNDING, extract=False), budget_ms=300)
    result = Runner.run_sync(agent, "ATM limit?")
    assert (result.text, result.outcome, result.check.action) == (
        agent.holding_reply,
        "degraded",
        "held",
    )


def test_a_resumed_turn_is_checked_too() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from _approval_agent import refund_tool

    from agentkit.approvals import Approval

    call = ToolCall.of("c1", "refund", '{"amount": 150, "reason": "charged twice"}')
    fast = ScriptedModel([call, "Refunded 999 EUR."])
    agent = _agent(fast, tools=[refund_tool()], check=AnswerCheck(GROUNDING, extract=False))
    waiting = Runner.run_sync(agent, "Refund my 150 EUR please", session_id="s1")
    assert waiting.outcome == "awaiting_approval"
    (request,) = waiting.approvals
    result = Runner.resume_sync(agent, "s1", Approval.approve(request.call_id))
    assert (result.text, result.outcome) == (agent.holding_reply, "degraded")
    assert result.check is not None and [c.text for c in result.check.unsupported] == ["999 EUR"]
