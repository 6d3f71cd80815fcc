"""The SDK's exceptions: one root, split by who is at fault.

The tree, and when to catch each branch, is drawn once in the public module
`agentkit.errors`. Expected conditions of a turn are outcomes in `TurnResult`.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "AgentkitError",
    "ApprovalError",
    "ApprovalExpiredError",
    "BackendError",
    "BudgetError",
    "ConfigError",
    "EvalDataError",
    "ModelHTTPError",
    "ModelProtocolError",
    "ModelUnavailableError",
    "NetworkBlockedError",
    "SafetyError",
    "ToolServerError",
    "UserError",
]


class AgentkitError(Exception):
    """Root of every exception the SDK raises."""


class UserError(AgentkitError):
    """The developer's mistake (invalid arguments or configuration); fix the code."""


class ConfigError(UserError):
    """A configuration value is invalid or missing.

    Attributes:
        field: The name of the offending setting.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ApprovalError(UserError):
    """`Runner.resume` was asked for what the session cannot do.

    No turn waits for approval in the session (none did, or it was resumed or
    has finished), or the decisions name a call the turn is not waiting for,
    or leave one of its calls undecided. Nothing was run; a waiting turn stays.

    Attributes:
        session_id: The session.
        call_ids: The unknown or undecided call ids (empty when no turn waits).
    """

    def __init__(self, session_id: str, message: str, call_ids: tuple[str, ...] = ()) -> None:
        super().__init__(f"session {session_id!r}: {message}")
        self.session_id = session_id
        self.call_ids = call_ids


class ApprovalExpiredError(ApprovalError):
    """The turn waited longer than the agent's ``approval_ttl_s``; it is dropped, nothing ran."""


class BackendError(AgentkitError):
    """One call to a model backend failed. The loop retries or falls back.

    Attributes:
        backend: A short name of the backend (model name or base URL).
        retryable: Whether repeating the same call may succeed.
    """

    def __init__(self, message: str, *, backend: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.backend = backend
        self.retryable = retryable


class ModelHTTPError(BackendError):
    """An endpoint answered with HTTP status ≥ 400.

    Attributes:
        status: The HTTP status code.
        body: The first kilobyte of the response body.
        retry_after_s: The server's ``Retry-After`` in seconds, if it sent one.
    """

    def __init__(
        self, status: int, body: str, *, backend: str = "", retry_after_s: float | None = None
    ) -> None:
        retryable = status == 429 or status >= 500
        super().__init__(f"HTTP {status}: {body[:200]}", backend=backend, retryable=retryable)
        self.status = status
        self.body = body[:1024]
        self.retry_after_s = retry_after_s


class ModelProtocolError(BackendError):
    """The backend answered, but not in the expected shape (bad JSON, HTML page)."""


class ModelUnavailableError(BackendError):
    """The backend cannot be reached (connection error) or its circuit breaker is open."""


class BudgetError(AgentkitError):
    """A stage ran out of its slice of the turn's deadline.

    Attributes:
        stage: The stage that ran out (``model``, ``tools``, ...).
        budget_ms: The slice it had.
    """

    def __init__(self, stage: str, budget_ms: float) -> None:
        super().__init__(f"stage {stage!r} exceeded its {budget_ms:.0f} ms budget")
        self.stage = stage
        self.budget_ms = budget_ms


class SafetyError(AgentkitError):
    """A safety backend failed to produce a verdict (e.g. a remote guard timed out)."""


class ToolServerError(AgentkitError):
    """A tool server (an MCP server) could not serve a request.

    Raised by `agentkit.mcp` servers' own methods (``connect``, ``list_tools``);
    during a turn it never escapes: a tool call it fails becomes a typed tool
    result (``error="exception"``) that the model reads, and the turn goes on.

    Attributes:
        server: The server's name.
        kind: ``unavailable`` (cannot start or connect, crashed, closed),
            ``protocol`` (an answer that breaks the protocol) or ``tool`` (the
            tool ran and reported an error).
    """

    def __init__(
        self, server: str, kind: Literal["unavailable", "protocol", "tool"], message: str
    ) -> None:
        super().__init__(message)
        self.server = server
        self.kind = kind


class NetworkBlockedError(AgentkitError):
    """A test tried to reach an address that is not loopback.

    Attributes:
        address: The host the code tried to reach.
    """

    def __init__(self, address: str) -> None:
        super().__init__(f"network access to {address!r} is blocked in tests (loopback only)")
        self.address = address


class EvalDataError(UserError):
    """An evaluation file is missing or a line is not a valid row.

    Attributes:
        path: The file.
        line: The 1-based line number (0: the file itself).
    """

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")
        self.path = path
        self.line = line
