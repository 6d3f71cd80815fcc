"""An agent whose refunds above 100 EUR need approval, for the approval tests.

Importable from a child process (the restart test runs the first half of a turn
there), so everything it needs is built here from plain arguments.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from agentkit import FunctionModel, ToolCall
from agentkit._agent import Agent
from agentkit._doubles import ModelCall
from agentkit._sessions import SessionStore
from tools import Tool

REFUNDS: list[float] = []
"""Refunds the tool has made in this process."""


class Refund(BaseModel):
    """Refund a card payment."""

    amount: float
    reason: str


def _refund(args: Refund) -> str:
    REFUNDS.append(args.amount)
    return f"refunded {args.amount:.2f} EUR"


def refund_tool() -> Tool:
    """The refund tool: amounts above 100 EUR wait for a person's approval."""
    return Tool.from_model(Refund, _refund, name="refund", needs_approval=lambda r: r.amount > 100)


def scripted(amount: float, *, call_id: str = "call_1") -> FunctionModel:
    """Asks for one refund of ``amount``, then answers with what the tool said."""

    def reply(call: ModelCall) -> str | ToolCall:
        last_user = max(i for i, m in enumerate(call.messages) if m.role == "user")
        results = [m for m in call.messages[last_user:] if m.role == "tool"]  # this turn's
        if not results:
            arguments = f'{{"amount": {amount}, "reason": "charged twice"}}'
            return ToolCall.of(call_id, "refund", arguments)
        return f"Done: {results[-1].content}"

    return FunctionModel(reply, name="scripted")


def approval_agent(amount: float, store: SessionStore | None = None, **options: object) -> Agent:
    """The agent, on ``store`` (default: in memory)."""
    extra = {} if store is None else {"store": store}
    return Agent(fast=scripted(amount), tools=[refund_tool()], **extra, **options)  # type: ignore[arg-type]


def main(db: Path) -> None:
    """Child process: run a turn that stops for approval, print its result as JSON."""
    from agentkit._runner import Runner
    from agentkit._sessions import SQLiteStore

    store = SQLiteStore(db)
    result = Runner.run_sync(approval_agent(250.0, store), "refund my 250 EUR", session_id="s1")
    print(result.model_dump_json())
    store.close()


if __name__ == "__main__":
    import sys

    main(Path(sys.argv[1]))
