"""Approvals: tool calls that wait for a person's decision, and the turns they suspend.

A tool declared with ``needs_approval`` (``True``, or a predicate on its
arguments) does not run when the model calls it: the turn ends
``awaiting_approval`` with one `ApprovalRequest` per held call in
``TurnResult.approvals``, and the turn is kept in the session store as a
`PendingTurn`. Decide with `Approval` and continue with `Runner.resume`.

Example:
    >>> import anyio
    >>> from agentkit import Agent, Runner, ScriptedModel, ToolCall
    >>> from tools import tool
    >>> @tool(needs_approval=True)
    ... def wire(amount: int) -> str:
    ...     return "sent"
    >>> call = ToolCall.of("c1", "wire", '{"amount": 900}')
    >>> agent = Agent(fast=ScriptedModel([call, "Wired."]), tools=[wire])
    >>> stopped = Runner.run_sync(agent, "wire 900", session_id="s1")
    >>> stopped.outcome, [r.call_id for r in stopped.approvals]
    ('awaiting_approval', ['c1'])
    >>> Runner.resume_sync(agent, "s1", [Approval.approve("c1")]).text
    'Wired.'
"""

from agentkit._approval_types import Approval, ApprovalRequest, PendingTurn

__all__ = ["Approval", "ApprovalRequest", "PendingTurn"]
