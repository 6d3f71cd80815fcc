"""Time limits and retry policy of `agentkit.OpenAIModel` calls (validated on creation)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from agentkit._errors import ConfigError

__all__ = ["RetryPolicy", "Timeouts"]


@dataclass(frozen=True)
class Timeouts:
    """Time limits of one call, in seconds (the caller's deadline may cut sooner).

    Attributes:
        connect_s: Establishing the TCP/TLS connection.
        first_token_s: From sending the request to the first streamed chunk
            (or the whole body, when not streaming).
        total_s: The whole call, retries included.
    """

    connect_s: float = 2.0
    first_token_s: float = 10.0
    total_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("connect_s", "first_token_s", "total_s"):
            if not 0 < getattr(self, name) < math.inf:
                raise ConfigError(name, "must be finite and > 0")


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of 429, 5xx and connection errors.

    Attributes:
        max_attempts: Attempts in all (1 disables retrying).
        base_s: Backoff before the second attempt; doubles per attempt.
        max_s: Cap on one backoff (``Retry-After`` may ask for more).
    """

    max_attempts: int = 3
    base_s: float = 0.05
    max_s: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError("max_attempts", "must be >= 1")
        for name in ("base_s", "max_s"):
            if not 0 <= getattr(self, name) < math.inf:
                raise ConfigError(name, "backoff must be finite and >= 0")
