"""Prometheus metrics of one server instance, on its own `CollectorRegistry`.

A per-app registry (not the process-global one) lets several servers, and the
tests, live in one process without colliding metric names.

Queue depth and batch size are seen from the server: a request is *queued*
from admission until its first generated token, and *batched* (generating)
from then until it ends. A backend that knows its real running batch (the
engine's scheduler) can report it through a ``batch_size`` attribute.
"""

from __future__ import annotations

import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from agentkit._model import SpeculativeStats

__all__ = ["ServerMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ITL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_RATE_WINDOW_S = 10.0  # tokens/s gauge: a short window follows load changes quickly


class ServerMetrics:
    """Counters, gauges and histograms of one app, rendered in Prometheus text format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "agentkit_server_requests", "Requests answered", ["endpoint", "status"], registry=r
        )
        self.queue_depth = Gauge(
            "agentkit_server_queue_depth", "Admitted requests without a first token", registry=r
        )
        self.batch_size = Gauge(
            "agentkit_server_batch_size", "Requests currently generating", registry=r
        )
        self.in_flight = Gauge("agentkit_server_in_flight", "Admitted requests", registry=r)
        self.tokens = Counter(
            "agentkit_server_generated_tokens", "Completion tokens generated", registry=r
        )
        self.tokens_per_s = Gauge(
            "agentkit_server_tokens_per_second", "Completion tokens/s, last 10 s", registry=r
        )
        self.tokens_per_s.set_function(self._rate)
        self.ttft = Histogram(
            "agentkit_server_time_to_first_token_seconds",
            "Receipt to first token",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.itl = Histogram(
            "agentkit_server_inter_token_latency_seconds",
            "Time between streamed deltas",
            buckets=_ITL_BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "agentkit_server_request_duration_seconds",
            "Receipt to last byte",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.drafted = Counter("agentkit_server_spec_drafted_tokens", "Drafted", registry=r)
        self.accepted = Counter("agentkit_server_spec_accepted_tokens", "Accepted", registry=r)
        self.acceptance = Gauge(
            "agentkit_server_spec_acceptance_rate", "Accepted / drafted, cumulative", registry=r
        )
        self.acceptance.set_function(self._acceptance)
        self._window: deque[tuple[float, int]] = deque()
        self._drafted_total = 0
        self._accepted_total = 0

    def record_tokens(self, count: int) -> None:
        """Count generated tokens (for the counter and the tokens/s window)."""
        if count <= 0:
            return
        self.tokens.inc(count)
        self._window.append((time.monotonic(), count))

    def record_speculative(self, stats: SpeculativeStats) -> None:
        """Add one finished generation's speculative statistics."""
        self.drafted.inc(stats.drafted)
        self.accepted.inc(stats.accepted)
        self._drafted_total += stats.drafted
        self._accepted_total += stats.accepted

    def render(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)

    def _rate(self) -> float:
        horizon = time.monotonic() - _RATE_WINDOW_S
        while self._window and self._window[0][0] < horizon:
            self._window.popleft()
        return sum(n for _, n in self._window) / _RATE_WINDOW_S

    def _acceptance(self) -> float:
        return self._accepted_total / self._drafted_total if self._drafted_total else 0.0
