"""A circuit breaker: stop calling an endpoint that keeps failing, probe it after a cool-down."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from agentkit._errors import ConfigError

__all__ = ["BreakerState", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive failures; half-opens after ``cooldown_s``.

    Closed: calls pass. Open: calls are refused at once (the caller falls back)
    until the cool-down has passed. Half-open: one probe call passes; its
    success closes the breaker, its failure opens it for another cool-down.
    The breaker is per endpoint and lives as long as its `OpenAIModel`; it is
    not shared through any global.

    Attributes:
        failure_threshold: Consecutive failures that open the breaker.
        cooldown_s: How long the breaker stays open before a probe.
        clock: Monotonic clock (replaceable in tests).
    """

    failure_threshold: int = 5
    cooldown_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _failures: int = field(default=0, init=False)
    _opened_at: float | None = field(default=None, init=False)
    _probing: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ConfigError("failure_threshold", "must be >= 1")
        if self.cooldown_s < 0:
            raise ConfigError("cooldown_s", "must be >= 0")

    @property
    def state(self) -> BreakerState:
        """The breaker's state now."""
        if self._opened_at is None:
            return "closed"
        if self.clock() - self._opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """Whether a call may go out now (claims the single probe when half-open)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self) -> None:
        """A call succeeded: close the breaker."""
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        """A call failed: count it, and open (or re-open) the breaker at the threshold."""
        self._failures += 1
        if self._probing or self._failures >= self.failure_threshold:
            self._opened_at = self.clock()
        self._probing = False
