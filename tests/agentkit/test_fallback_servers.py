"""Deep-tier fallbacks against real endpoints: two fault-injecting servers, different faults.

The in-repo `agentkit.testing.FaultServer` (scripted 503s, streams broken after
the first words, stalls) and llm-katan, an independent server from PyPI
(errors at a rate, latency, rate limits; see ``_katan.py``), both on
127.0.0.1, each behind its own `OpenAIModel` with its own retries and breaker.
The tests that need llm-katan skip without it; the two-FaultServer test always
runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import pytest

from agentkit import Agent, FallbackModel, Message, Runner, ScriptedModel
from agentkit._breaker import CircuitBreaker
from agentkit._fallback import recording_attempts
from agentkit._openai_model import OpenAIModel
from agentkit._openai_settings import RetryPolicy, Timeouts
from agentkit.testing import FaultPlan, FaultServer, serve_faults
from router import Decision, RouteContext, StreamSignals
from tests.agentkit._katan import SKIP_REASON, Katan, katan_path, run_katans

needs_katan = pytest.mark.skipif(katan_path() is None, reason=SKIP_REASON)

FAULT_REPLY = "The in-repo server answers this properly."


class _Deep:
    def route(self, context: RouteContext) -> Decision:
        return Decision("deep", {}, ("test: deep",))

    def should_escalate(self, context: RouteContext, stats: StreamSignals) -> Decision | None:
        return None


def _model(
    url: str,
    name: str,
    *,
    attempts: int = 2,
    first_token_s: float = 2.0,
    breaker: CircuitBreaker | None = None,
) -> OpenAIModel:
    return OpenAIModel(
        name,
        base_url=url,
        api_key="test",  # llm-katan checks that a key is sent
        retry=RetryPolicy(max_attempts=attempts, base_s=0.01, max_s=0.05),
        timeouts=Timeouts(connect_s=1.0, first_token_s=first_token_s, total_s=10.0),
        breaker=breaker,
    )


def _agent(*deep: OpenAIModel, budget_ms: float = 4000.0) -> Agent:
    return Agent(
        fast=ScriptedModel([" and the fast tier finishes."] * 4, name="fast"),
        deep=list(deep),
        router=_Deep(),
        budget_ms=budget_ms,
    )


@pytest.fixture(scope="module")
def katan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Katan]]:
    """Four llm-katan instances, started together (each takes a second or two)."""
    if katan_path() is None:
        pytest.skip(SKIP_REASON)
    specs = {
        "katan-ok": ("--ttft-ms", "20", "--itl-ms", "2"),  # healthy, streaming paced
        "katan-500": ("--error-rate", "1.0"),  # every request a 500
        "katan-slow": ("--latency-ms", "5000"),  # answers after 5 s
        "katan-429": ("--rate-limit-after", "1"),  # one answer, then 429s
    }
    with run_katans(tmp_path_factory.mktemp("katan"), specs) as running:
        yield running


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    with serve_faults(FaultPlan(reply=FAULT_REPLY)) as server:
        yield server


@needs_katan
def test_in_repo_503s_fall_over_to_katan(fault: FaultServer, katan: dict[str, Katan]) -> None:
    fault.plan.queue[:] = ["503", "503"]  # both attempts of its retry policy
    ok = katan["katan-ok"]
    result = Runner.run_sync(
        _agent(_model(fault.base_url, "primary"), _model(ok.base_url, ok.model)), "hi"
    )
    assert (result.outcome, result.tier) == ("ok", "deep")
    assert result.text.startswith("[echo] model=katan-ok")  # llm-katan's echo backend
    (hop,) = result.hops
    assert (hop.model, hop.outcome) == ("katan-ok", "done")
    primary, secondary = hop.attempts
    assert (primary.model, primary.outcome, secondary.outcome) == ("primary", "failed", "done")
    assert primary.error is not None and "HTTP 503" in primary.error.message
    assert fault.faults == ["503", "503"]


@needs_katan
def test_katan_500s_open_its_breaker_then_it_is_skipped_without_a_request(
    fault: FaultServer, katan: dict[str, Katan]
) -> None:
    broken = katan["katan-500"]
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=60.0)
    model = FallbackModel(
        [
            _model(broken.base_url, broken.model, attempts=1, breaker=breaker),
            _model(fault.base_url, "backup"),
        ]
    )

    async def ask() -> tuple[str, list[tuple[str, str]]]:
        with recording_attempts() as attempts:
            reply = await model.complete([Message.user("hi")], deadline=time.monotonic() + 5)
        return reply.text, [(a.model, a.outcome) for a in attempts]

    before = broken.requests()
    for _ in range(2):  # two 500s: the threshold
        assert anyio.run(ask) == (FAULT_REPLY, [("katan-500", "failed"), ("backup", "done")])
    assert breaker.state == "open"
    assert broken.requests() == before + 2
    start = time.perf_counter()
    assert anyio.run(ask) == (FAULT_REPLY, [("katan-500", "skipped"), ("backup", "done")])
    assert broken.requests() == before + 2  # skipped at once: no request went out
    assert time.perf_counter() - start < 1.0


@needs_katan
def test_slow_katan_fails_over_on_its_first_token_timeout_within_the_budget(
    fault: FaultServer, katan: dict[str, Katan]
) -> None:
    slow = katan["katan-slow"]
    agent = _agent(
        _model(slow.base_url, slow.model, attempts=1, first_token_s=0.3),
        _model(fault.base_url, "backup"),
        budget_ms=3000.0,
    )
    result = Runner.run_sync(agent, "hi")
    assert (result.outcome, result.text) == ("ok", FAULT_REPLY)
    first, second = result.hops[0].attempts
    assert (first.outcome, second.outcome) == ("failed", "done")
    assert first.error is not None and "first-token timeout" in first.error.message
    assert result.elapsed_ms < 3000.0


@needs_katan
def test_katan_rate_limit_falls_over_without_opening_its_breaker(
    fault: FaultServer, katan: dict[str, Katan]
) -> None:
    limited = katan["katan-429"]
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=60.0)
    agent = _agent(
        _model(limited.base_url, limited.model, breaker=breaker), _model(fault.base_url, "backup")
    )
    first = Runner.run_sync(agent, "hi")  # its one answer before the limit
    assert first.hops[0].model == "katan-429" and first.text.startswith("[echo]")
    for _ in range(2):
        result = Runner.run_sync(agent, "hi")
        assert (result.outcome, result.text) == ("ok", FAULT_REPLY)
        attempt = result.hops[0].attempts[0]
        assert attempt.error is not None and "HTTP 429" in attempt.error.message
    # 429 is the server pacing us, not a failure: the breaker stays closed (threshold 1).
    assert breaker.state == "closed"


@needs_katan
def test_stream_broken_after_its_first_words_is_not_repeated_by_katan(
    fault: FaultServer, katan: dict[str, Katan]
) -> None:
    fault.plan.queue[:] = ["break"]  # two words, then the connection drops
    ok = katan["katan-ok"]
    before = ok.requests()
    result = Runner.run_sync(
        _agent(_model(fault.base_url, "primary"), _model(ok.base_url, ok.model)), "hi"
    )
    assert result.outcome == "degraded"
    assert result.text == "The in-repo and the fast tier finishes."
    assert [(h.tier, h.outcome) for h in result.hops] == [("deep", "failed"), ("fast", "done")]
    assert [(a.model, a.outcome) for a in result.hops[0].attempts] == [("primary", "failed")]
    assert ok.requests() == before  # the text already sent is kept, never asked again


def test_two_in_repo_servers_a_stall_then_an_answer() -> None:
    """Always runs (no llm-katan needed): a stalled server, then a healthy one."""
    with (
        serve_faults(FaultPlan(stall_all=True, stall_s=5.0)) as stalled,
        serve_faults(FaultPlan(reply=FAULT_REPLY)) as healthy,
    ):
        agent = _agent(
            _model(stalled.base_url, "stalled", attempts=1, first_token_s=0.3),
            _model(healthy.base_url, "healthy"),
            budget_ms=3000.0,
        )
        result = Runner.run_sync(agent, "hi")
    assert (result.outcome, result.text, result.hops[0].model) == ("ok", FAULT_REPLY, "healthy")
    first, second = result.hops[0].attempts
    assert (first.model, first.outcome, second.outcome) == ("stalled", "failed", "done")
    assert result.elapsed_ms < 3000.0
