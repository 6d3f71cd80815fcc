"""The SDK's exception tree.

    AgentkitError                 catch-all for anything raised by the SDK
    ├── UserError                 the developer's mistake: bad config, bad arguments
    │   └── ConfigError           invalid or missing configuration value
    ├── BackendError              a model backend failed one call (loop retries / falls back)
    │   ├── ModelHTTPError        HTTP status ≥ 400 from an endpoint (status, body)
    │   ├── ModelProtocolError    malformed response: bad JSON, HTML error page, wrong shape
    │   └── ModelUnavailableError connection refused, circuit breaker open
    ├── BudgetError               a stage ran out of its slice of the turn's deadline
    ├── SafetyError               a safety backend failed (fail-open/closed decides the outcome)
    └── NetworkBlockedError       a test reached a non-loopback address

Expected conditions of a turn are outcomes in `TurnResult`, not exceptions.
"""

from agentkit._errors import (
    AgentkitError,
    BackendError,
    BudgetError,
    ConfigError,
    ModelHTTPError,
    ModelProtocolError,
    ModelUnavailableError,
    NetworkBlockedError,
    SafetyError,
    UserError,
)

__all__ = [
    "AgentkitError",
    "BackendError",
    "BudgetError",
    "ConfigError",
    "ModelHTTPError",
    "ModelProtocolError",
    "ModelUnavailableError",
    "NetworkBlockedError",
    "SafetyError",
    "UserError",
]
