"""The SDK's exception tree.

    AgentkitError                 catch-all for anything raised by the SDK
    ├── UserError                 the developer's mistake: bad config, bad arguments
    │   ├── ConfigError           invalid or missing configuration value
    │   ├── EvalDataError         an evaluation file (agentkit eval answers) has a bad row
    │   └── ApprovalError         Runner.resume: no turn waits, or an unknown/undecided call
    │       └── ApprovalExpiredError  the turn waited past the agent's approval_ttl_s
    ├── BackendError              a model backend failed one call (loop retries / falls back)
    │   ├── ModelHTTPError        HTTP status ≥ 400 from an endpoint (status, body)
    │   ├── ModelProtocolError    malformed response: bad JSON, HTML error page, wrong shape
    │   └── ModelUnavailableError connection refused, circuit breaker open
    ├── BudgetError               a stage ran out of its slice of the turn's deadline
    ├── SafetyError               a safety backend failed (fail-open/closed decides the outcome)
    ├── ToolServerError           an MCP server is unavailable or broke the protocol (a typed
    │                             tool result inside a turn; raised by the server's own methods)
    └── NetworkBlockedError       a test reached a non-loopback address

Expected conditions of a turn are outcomes in `TurnResult`, not exceptions.
"""

from agentkit._errors import (
    AgentkitError,
    ApprovalError,
    ApprovalExpiredError,
    BackendError,
    BudgetError,
    ConfigError,
    EvalDataError,
    ModelHTTPError,
    ModelProtocolError,
    ModelUnavailableError,
    NetworkBlockedError,
    SafetyError,
    ToolServerError,
    UserError,
)

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
