"""Prometheus metrics of one server instance, on its own `CollectorRegistry`.

A per-app registry (not the process-global one) lets several servers, and the
tests, live in one process without colliding metric names.

Queue depth and batch size are seen from the server: a request is *queued*
from admission until its first generated token, and *batched* (generating)
from then until it ends. A backend that knows its real running batch (the
engine's scheduler) can report it through a ``batch_size`` attribute.

Every series is bounded: requests are counted once each, by `RequestCounter`,
labelled with the matched route's template (``unmatched`` otherwise) and the
status, so that no client-chosen text becomes a label value; the tokens/s
window holds at most one bucket per 0.1 s of its 10 s.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import anyio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentkit._model import SpeculativeStats

__all__ = ["RequestCounter", "ServerMetrics", "route_label"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ITL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_RATE_WINDOW_S = 10.0  # tokens/s gauge: a short window follows load changes quickly
_RATE_BUCKET_S = 0.1  # the window holds at most 101 buckets, however busy the server
_UNMATCHED = "unmatched"  # the one label of every path no route matches
_CLIENT_GONE = "499"  # cancelled before any response was sent (nginx's code)


class ServerMetrics:
    """Counters, gauges and histograms of one app, rendered in Prometheus text format.

    Args:
        clock: Seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
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
        self._window: deque[list[int]] = deque()  # [bucket number, tokens]
        self._drafted_total = 0
        self._accepted_total = 0

    def record_tokens(self, count: int) -> None:
        """Count generated tokens (for the counter and the tokens/s window)."""
        if count <= 0:
            return
        self.tokens.inc(count)
        bucket = self._trim()
        if self._window and self._window[-1][0] == bucket:
            self._window[-1][1] += count
        else:
            self._window.append([bucket, count])

    def record_speculative(self, stats: SpeculativeStats) -> None:
        """Add one finished generation's speculative statistics."""
        self.drafted.inc(stats.drafted)
        self.accepted.inc(stats.accepted)
        self._drafted_total += stats.drafted
        self._accepted_total += stats.accepted

    def render(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)

    def _trim(self) -> int:
        """Drop buckets older than the window; the current bucket's number."""
        bucket = int(self._clock() / _RATE_BUCKET_S)
        oldest = bucket - round(_RATE_WINDOW_S / _RATE_BUCKET_S)
        while self._window and self._window[0][0] < oldest:
            self._window.popleft()
        return bucket

    def _rate(self) -> float:
        self._trim()
        return sum(n for _, n in self._window) / _RATE_WINDOW_S

    def _acceptance(self) -> float:
        return self._accepted_total / self._drafted_total if self._drafted_total else 0.0


def route_label(scope: Scope) -> str:
    """The template of the route that matched (``/v1/models/{model_id:path}``), or ``unmatched``."""
    route: BaseRoute | None = scope.get("route")
    if route is None:  # Starlette before scope["route"] existed, or no route matched
        routes: list[BaseRoute] = getattr(scope.get("router"), "routes", [])
        route = next((r for r in routes if r.matches(scope)[0] is not Match.NONE), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else _UNMATCHED


class RequestCounter:
    """ASGI middleware: counts every HTTP request exactly once, by route template and status.

    The status is the one the response started with (a stream that fails after
    its headers counts as 200, as the client saw it); an exception that escapes
    without a response counts as 500, a cancellation as 499.

    Args:
        app: The wrapped ASGI app.
        metrics: Where ``agentkit_server_requests_total`` lives.
    """

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request, then count it once whatever way it ended."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status: str | None = None

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start" and status is None:
                status = str(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, watch)
        except anyio.get_cancelled_exc_class():
            status = status or _CLIENT_GONE
            raise
        except BaseException:
            status = status or "500"
            raise
        finally:
            self._metrics.requests.labels(route_label(scope), status or _CLIENT_GONE).inc()
