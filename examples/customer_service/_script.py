"""The scripted conversation and its runner (what ``python -m examples.customer_service`` does)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentkit import Agent, Runner, TurnResult
from agentkit.approvals import Approval, ApprovalRequest
from agentkit.cli import format_footer, turn_record
from agentkit.evals import missing_facts

__all__ = [
    "SCRIPT",
    "SLOW_TURN_BUDGET_MS",
    "Decide",
    "ScriptTurn",
    "approve_all",
    "fact_verdict",
    "load_script",
    "parse_facts",
    "run_script",
]


@dataclass(frozen=True)
class ScriptTurn:
    """One scripted turn: its session, text, optional budget and expected facts.

    ``facts`` are what a right answer holds (as in `agentkit.evals`: one spelling of
    every group); the demo shows per turn whether the released answer holds them.
    """

    session: str
    text: str
    budget_ms: float | None = None
    facts: tuple[tuple[str, ...], ...] = ()


SLOW_TURN_BUDGET_MS = 6000.0
"""Budget of the scripted account lookup, which cannot fit 1.5 s on 2 cores: two or
three model calls, each prefilling the tool's result (4.0-4.7 s measured on the
default model). The other turns keep the agent's default. The disputes go to the
deep tier; the offline stand-in (the same small model on one thread) must prefill
the whole conversation it has not seen, which took more than 5.8 s even with a
6 s budget, so they keep 1.5 s and show the holding reply (outcome ``degraded``)."""

SCRIPT: list[ScriptTurn] = [
    ScriptTurn("demo", "What is the daily ATM withdrawal limit?", facts=(("500",), ("EUR",))),
    ScriptTurn("demo", "How much does an international transfer cost?", facts=(("12",), ("EUR",))),
    ScriptTurn("demo", "My card was stolen. What should I do first?", facts=(("freeze",),)),
    ScriptTurn("demo", "Please look up account ACC-1001.", SLOW_TURN_BUDGET_MS, (("1250.40",),)),
    ScriptTurn(
        "demo",
        "I was charged twice by Rail Europe: TX-5002 and TX-5003 on ACC-1001, 129.00 EUR "
        "each. My email is ada@example.com. How much will be refunded, and when?",
    ),
    ScriptTurn(
        "demo",
        "I dispute TX-5004 on ACC-1002: I agreed to pay 400 EUR but was charged 480 EUR. "
        "How much is refunded, and when?",
    ),
]
"""The built-in conversation: routine turns (fast tier), an account lookup (tools),
then two disputes (deep)."""


def parse_facts(value: object, where: str) -> tuple[tuple[str, ...], ...]:
    """A turn's ``facts``: a list of groups, each a list of spellings (strings or numbers).

    ``[["500"], ["EUR", "euro"]]`` means "500" and one of "EUR" or "euro". None or
    absent: no facts.

    Raises:
        ValueError: ``value`` has another shape (a bare string would be read one
            character a group), naming ``where``.
    """
    if value is None:
        return ()
    if not isinstance(value, list) or not all(map(_is_group, value)):
        raise ValueError(f"{where}: 'facts' must be a list of lists of strings, e.g. [[\"500\"]]")
    return tuple(tuple(str(s) for s in group) for group in value)


def _is_group(group: object) -> bool:
    """A non-empty list of strings or numbers (not booleans)."""
    return (
        isinstance(group, list)
        and bool(group)
        and all(isinstance(s, str | int | float) and not isinstance(s, bool) for s in group)
    )


def load_script(path: str | Path | None) -> list[ScriptTurn]:
    """Turns from a JSONL file, or `SCRIPT`.

    One ``{"session", "text", "budget_ms"?, "facts"?}`` object a line.

    Raises:
        ValueError: A line is not a JSON object with a string ``text``, or its
            ``facts`` are not a list of lists (`parse_facts`).
    """
    if path is None:
        return list(SCRIPT)
    turns = []
    # split on "\n" only: a JSON string may hold U+2028, which splitlines() cuts at
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").split("\n"), 1):
        if not line.strip():
            continue
        item = json.loads(line)
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise ValueError(f"{path}:{number}: expected an object with a string 'text'")
        budget = item.get("budget_ms")
        facts = parse_facts(item.get("facts"), f"{path}:{number}")
        turns.append(ScriptTurn(str(item.get("session", "demo")), item["text"], budget, facts))
    return turns


def fact_verdict(turn: ScriptTurn, result: TurnResult) -> str | None:
    """Whether the released answer holds the turn's facts (None: the turn expects none).

    ``right``; ``escalated`` or ``holding reply`` (not an error: nothing wrong was
    said); ``wrong`` (an answer went out without the facts).
    """
    if not turn.facts:
        return None
    if result.tier is None or result.outcome not in ("ok", "degraded"):
        return "holding reply" if result.outcome == "degraded" else result.outcome
    missing = missing_facts(result.text, turn.facts)
    if not missing:
        return "right"
    return "wrong (missing " + ", ".join("/".join(g) for g in missing) + ")"


Decide = Callable[[ApprovalRequest], Approval]
"""A specialist's decision on a refund above the instant limit."""


def approve_all(request: ApprovalRequest) -> Approval:
    """The scripted specialist: approves every request."""
    return Approval.approve(request.call_id)


async def run_script(
    agent: Agent,
    turns: Sequence[ScriptTurn],
    *,
    on_turn: Callable[[int, ScriptTurn, TurnResult], None] | None = None,
    decide: Decide | None = approve_all,
) -> list[TurnResult]:
    """Run ``turns`` in order through ``agent`` (sessions keep their history).

    A turn that stops for approval (a refund above the instant limit) is
    resumed with ``decide``'s decisions (None: it is left waiting); both the
    stopped turn and its continuation are reported and returned.
    """
    results = []
    for index, turn in enumerate(turns):
        result = await Runner.run(
            agent, turn.text, session_id=turn.session, budget_ms=turn.budget_ms
        )
        while True:
            results.append(result)
            if on_turn is not None:
                on_turn(index, turn, result)
            if result.outcome != "awaiting_approval" or decide is None:
                break
            decisions = [decide(request) for request in result.approvals]
            session = result.session_id or turn.session
            result = await Runner.resume(agent, session, decisions, budget_ms=turn.budget_ms)
    return results


def print_turn(index: int, turn: ScriptTurn, result: TurnResult) -> None:
    """The scripted run's per-turn report on stdout (the CLI's output)."""
    print(f"\n#{index + 1} user: {turn.text}")
    print(f"   bot:  {result.text}")
    verdict = fact_verdict(turn, result)
    if verdict is not None:
        print(f"   expected facts: {verdict}")
    for request in result.approvals:
        print(f"   waiting for a specialist: {request.tool} {request.arguments}")
    print(f"   {format_footer(result)}")


def records(results: Sequence[TurnResult]) -> list[dict[str, Any]]:
    """JSON records of the turns (see `agentkit.cli.turn_record`)."""
    return [turn_record(r) for r in results]
