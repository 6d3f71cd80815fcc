"""Approvals: a tool call that waits for a person's decision, and the turn it suspends.

A tool declared with ``needs_approval`` (``True``, or a predicate on its
validated arguments) is not run when the model calls it: the turn ends with
outcome ``awaiting_approval``, each such call an `ApprovalRequest` in the
result, and the suspended turn (a `PendingTurn`) in the session store.
`Runner.resume` continues it with one `Approval` per request.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agentkit._messages import Message

__all__ = ["Approval", "ApprovalRequest", "PendingTurn"]


class ApprovalRequest(BaseModel):
    """A tool call waiting for a decision.

    Attributes:
        call_id: The call's id (decide with ``Approval(call_id, ...)``).
        tool: The tool's name.
        arguments: The call's arguments, as JSON text (as the model wrote them,
            PII-redacted like the rest of the session).
        session_id: The session to resume (`Runner.resume`).
        expires_at: When the request lapses (seconds since the epoch, UTC).
    """

    model_config = ConfigDict(frozen=True)

    call_id: str
    tool: str
    arguments: str
    session_id: str
    expires_at: float


class Approval(BaseModel):
    """A decision on one `ApprovalRequest`.

    Attributes:
        call_id: The request's ``call_id``.
        approved: Run the call (True) or not (False).
        reason: Why it was rejected; the model reads it as the call's result.

    Example:
        >>> Approval.reject("call_1", "over the daily limit").approved
        False
    """

    model_config = ConfigDict(frozen=True)

    call_id: str = Field(min_length=1)
    approved: bool
    reason: str = ""

    @classmethod
    def approve(cls, call_id: str) -> Approval:
        """Approve a call: it runs when the turn resumes."""
        return cls(call_id=call_id, approved=True)

    @classmethod
    def reject(cls, call_id: str, reason: str = "") -> Approval:
        """Reject a call; the model reads ``reason`` as its result and answers."""
        return cls(call_id=call_id, approved=False, reason=reason)


class PendingTurn(BaseModel):
    """A turn suspended until its tool calls are decided; kept in the session store.

    Attributes:
        turn_id: The suspended turn's id (the resumed turn keeps it).
        tier: The tier that was running (the resumed turn continues on it).
        reason: Why the turn was on that tier.
        messages: The turn so far, from the user's message on (tool calls and
            the results of calls that needed no approval included).
        requests: The calls waiting for a decision.
        created_at: When the turn was suspended (seconds since the epoch).
        expires_at: When the requests lapse.
    """

    model_config = ConfigDict(frozen=True)

    turn_id: str
    tier: str
    reason: str = ""
    messages: tuple[Message, ...]
    requests: tuple[ApprovalRequest, ...]
    created_at: float
    expires_at: float
