"""A circuit breaker: stop calling an endpoint that keeps failing, probe it after a cool-down.

Every call that the breaker lets through ends in exactly one of three ways
(see `BreakerCall`), so a half-open probe always resolves:

- **success**: the backend answered, a 4xx other than 429 included (the
  server is up; the request was wrong) — closes the breaker;
- **failure**: 5xx, timeouts, connection errors, malformed responses, a
  stream that broke — counts towards opening, and re-opens after a probe;
- **release**: no verdict (the caller cancelled, the caller's deadline came
  first, the consumer closed the stream before any chunk) — frees the probe
  slot for the next call and changes nothing else.

A 429 is the server pacing us: it is no failure while the breaker is closed
(``Retry-After`` is honoured), but a probe that gets one re-opens the breaker
for another cool-down, since the server asked for less traffic.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from agentkit._errors import ConfigError

__all__ = ["BreakerCall", "BreakerState", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive failures; half-opens after ``cooldown_s``.

    Closed: calls pass. Open: calls are refused at once (the caller falls back)
    until the cool-down has passed. Half-open: one probe call passes; its
    success closes the breaker, its failure opens it for another cool-down,
    and a probe that ends without a verdict frees the slot for the next call.
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
    _probe: int = field(default=0, init=False)  # the probe in flight (0: none)
    _probes: int = field(default=0, init=False)  # probes claimed so far

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ConfigError("failure_threshold", "must be >= 1")
        if not 0 <= self.cooldown_s < math.inf:  # NaN would keep the breaker open for good
            raise ConfigError("cooldown_s", "must be finite and >= 0")

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
        return self.acquire() is not None

    def acquire(self) -> BreakerCall | None:
        """Claim a call (the probe, when half-open); None when the breaker refuses it."""
        state = self.state
        if state == "closed":
            return BreakerCall(self, 0)
        if state == "half_open" and not self._probe:
            self._probes += 1
            self._probe = self._probes
            return BreakerCall(self, self._probe)
        return None

    def record_success(self) -> None:
        """A call succeeded: close the breaker."""
        self._failures = 0
        self._opened_at = None
        self._probe = 0

    def record_failure(self) -> None:
        """A call failed: count it, and open (or re-open) the breaker at the threshold."""
        self._failures += 1
        if self._probe or self._failures >= self.failure_threshold:
            self._opened_at = self.clock()
        self._probe = 0

    def release(self, probe: int) -> None:
        """Probe ``probe`` ended without a verdict: free the slot if it still holds it."""
        if probe and self._probe == probe:
            self._probe = 0


@dataclass
class BreakerCall:
    """One call's claim on a `CircuitBreaker`; the first verdict counts, later ones are ignored.

    Attributes:
        breaker: The breaker.
        probe: The probe this call holds (0: not a probe).
    """

    breaker: CircuitBreaker
    probe: int
    settled: bool = False

    def success(self) -> None:
        """The backend answered."""
        if not self.settled:
            self.settled = True
            self.breaker.record_success()

    def failure(self) -> None:
        """The backend failed."""
        if not self.settled:
            self.settled = True
            self.breaker.record_failure()

    def release(self) -> None:
        """No verdict (cancelled, the caller's deadline, closed early): free the probe."""
        if not self.settled:
            self.settled = True
            self.breaker.release(self.probe)

    def status(self, status: int) -> None:
        """An HTTP error status: 5xx fails, 429 fails a probe only, any other 4xx succeeds."""
        if status >= 500 or (status == 429 and self.probe):
            self.failure()
        elif status == 429:
            self.release()
        else:
            self.success()
