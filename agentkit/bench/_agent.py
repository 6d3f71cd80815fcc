"""`run_agent_bench`: does the agent loop keep its promises under a failing deep tier?

Three measurements, each against real components on loopback:

a. Budget: a deep endpoint that stalls on every request; each turn must still
   return within its budget (overshoot p50/p99, target ≤ 20 ms).
b. Resilience: a deep endpoint with 30% 5xx and periodic 429 storms; every
   turn ends with a typed outcome other than ``error`` and is in the store.
c. Overhead: the SDK's own time per turn with a scripted model (everything but
   model, safety and routing time), with the in-memory and the SQLite store.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import anyio
import structlog

from agentkit._agent import Agent
from agentkit._breaker import CircuitBreaker
from agentkit._budget import BudgetPolicy
from agentkit._doubles import FunctionModel
from agentkit._openai_model import OpenAIModel, RetryPolicy
from agentkit._result import TurnResult
from agentkit._runner import Runner
from agentkit._sessions import InMemoryStore, SessionStore, SQLiteStore
from agentkit.bench.stats import percentile
from agentkit.testing import FaultPlan, serve_faults
from router import Decision, RouteContext, StreamSignals

__all__ = ["AgentBenchResult", "run_agent_bench"]


class _DeepRouter:
    """Routes every turn deep, so every turn meets the faulty endpoint."""

    def route(self, context: RouteContext) -> Decision:
        return Decision("deep", {}, ("bench: deep",))

    def should_escalate(self, context: RouteContext, stats: StreamSignals) -> Decision | None:
        return None


@dataclass(frozen=True)
class AgentBenchResult:
    """What `run_agent_bench` measured (milliseconds unless named otherwise).

    Attributes:
        budget_ms: The per-turn budget in scenario (a).
        stall_turns: Turns run against the stalling endpoint.
        overshoot_p50_ms: Median of (turn wall time - budget), scenario (a).
        overshoot_p99_ms: 99th percentile of the same.
        overshoot_deep_only_p50_ms: The same for an agent with no fast tier, whose
            deep call runs to the end of the budget (then the holding reply).
        overshoot_deep_only_p99_ms: Its 99th percentile.
        stall_outcomes: Outcome counts in scenario (a) (``deep_only_*``: no fast tier).
        fault_turns: Turns run against the 5xx/429 endpoint.
        fault_outcomes: Outcome counts in scenario (b).
        fault_errors: Turns of (b) that ended as ``error`` or raised (target 0).
        fault_stored: Turns of (b) found in the SQLite store afterwards.
        fault_requests: HTTP requests the endpoint received in (b).
        overhead_turns: Turns per store in scenario (c).
        overhead_memory_p50_ms: SDK overhead per turn, in-memory store.
        overhead_sqlite_p50_ms: SDK overhead per turn, SQLite store.
        turn_memory_p50_ms: Whole turn wall time with the scripted model, in-memory store.
        turn_sqlite_p50_ms: The same with SQLite.
        meets_targets: Overshoot p99 ≤ 20, no errors, none lost, overhead ≤ 1 / 3 ms.
    """

    budget_ms: float
    stall_turns: int
    overshoot_p50_ms: float
    overshoot_p99_ms: float
    overshoot_deep_only_p50_ms: float
    overshoot_deep_only_p99_ms: float
    stall_outcomes: dict[str, int]
    fault_turns: int
    fault_outcomes: dict[str, int]
    fault_errors: int
    fault_stored: int
    fault_requests: int
    overhead_turns: int
    overhead_memory_p50_ms: float
    overhead_sqlite_p50_ms: float
    turn_memory_p50_ms: float
    turn_sqlite_p50_ms: float
    meets_targets: bool = field(default=False)

    def to_json(self) -> str:
        """The result as a JSON document."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)


async def _timed(agent: Agent, text: str, session_id: str | None) -> tuple[TurnResult, float]:
    start = time.perf_counter()
    result = await Runner.run(agent, text, session_id=session_id)
    return result, (time.perf_counter() - start) * 1000.0


def _fast() -> FunctionModel:
    return FunctionModel(lambda call: "A quick answer from the fast tier.", name="fast")


async def _stall_turns(agent: Agent, turns: int) -> tuple[list[float], Counter[str]]:
    overshoot: list[float] = []
    outcomes: Counter[str] = Counter()
    await _timed(agent, "warm-up", None)  # imports and the first connection
    for i in range(turns):
        result, wall = await _timed(agent, f"question {i}", None)
        overshoot.append(wall - agent.budget_ms)
        outcomes[result.outcome] += 1
    return overshoot, outcomes


async def _stall_scenario(
    base_url: str, turns: int, budget_ms: float
) -> tuple[list[float], Counter[str], list[float]]:
    """(a) with a fast tier to fall back on, and (a') deep only: the holding reply at the end."""
    deep = OpenAIModel("stall", base_url=base_url, breaker=CircuitBreaker(failure_threshold=10**9))
    policy = BudgetPolicy(fallback_reserve_ms=budget_ms * 0.4)
    agent = Agent(fast=_fast(), deep=deep, router=_DeepRouter(), budget_ms=budget_ms, policy=policy)
    overshoot, outcomes = await _stall_turns(agent, turns)
    alone = Agent(deep=deep, router=_DeepRouter(), budget_ms=budget_ms, policy=policy)
    overshoot_alone, outcomes_alone = await _stall_turns(alone, turns)
    outcomes.update({f"deep_only_{k}": v for k, v in outcomes_alone.items()})
    await deep.aclose()
    return overshoot, outcomes, overshoot_alone


async def _fault_scenario(
    base_url: str, turns: int, store: SQLiteStore
) -> tuple[Counter[str], int]:
    breaker = CircuitBreaker(cooldown_s=0.5)
    retry = RetryPolicy(max_attempts=3, base_s=0.01)
    deep = OpenAIModel("faulty", base_url=base_url, retry=retry, breaker=breaker)
    agent = Agent(fast=_fast(), deep=deep, router=_DeepRouter(), budget_ms=1500, store=store)
    outcomes: Counter[str] = Counter()
    errors = 0
    for i in range(turns):
        try:
            result = await Runner.run(agent, f"question {i}", session_id="bench")
            outcomes[result.outcome] += 1
            errors += result.outcome == "error"
        except Exception:  # counted: the target is that none escapes
            errors += 1
    await deep.aclose()
    return outcomes, errors


async def _overhead(store: SessionStore, turns: int) -> tuple[float, float]:
    agent = Agent(fast=FunctionModel(lambda call: "ok", name="scripted"), store=store)
    overheads: list[float] = []
    walls: list[float] = []
    for i in range(turns + 20):
        # Sessions of 10 turns: history is loaded (and parsed) on every turn.
        result, wall = await _timed(agent, "hello there", f"s{i // 10}")
        t = result.timings_ms
        stages = t.model + t.safety_in + t.route + t.safety_out
        if i >= 20:  # warm-up
            overheads.append(wall - stages)
            walls.append(wall)
    return percentile(overheads, 50), percentile(walls, 50)


def run_agent_bench(
    *, turns: int = 200, budget_ms: float = 100.0, overhead_turns: int = 1000, seed: int = 0
) -> AgentBenchResult:
    """Run the three scenarios (about ``turns * budget_ms`` plus a few seconds).

    Args:
        turns: Turns in scenarios (a) and (b).
        budget_ms: Turn budget in scenario (a).
        overhead_turns: Turns per store in scenario (c).
        seed: Seed of the injected 5xx.

    Returns:
        The measurements.
    """
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    try:
        return _run(turns, budget_ms, overhead_turns, seed)
    finally:
        structlog.configure(**saved)


def _run(turns: int, budget_ms: float, overhead_turns: int, seed: int) -> AgentBenchResult:
    with serve_faults(FaultPlan(stall_all=True, stall_s=30.0)) as stalling:
        overshoot, stall_outcomes, alone = anyio.run(
            _stall_scenario, stalling.base_url, turns, budget_ms
        )
    plan = FaultPlan(error_rate=0.3, storm_every=40, storm_length=8, retry_after_s=0.02, seed=seed)
    with tempfile.TemporaryDirectory() as tmp, serve_faults(plan) as faulty:
        store = SQLiteStore(Path(tmp) / "bench.db")
        fault_outcomes, errors = anyio.run(_fault_scenario, faulty.base_url, turns, store)
        stored = store.count("bench") // 2
        requests = faulty.requests
        store.close()
    mem, mem_wall = anyio.run(_overhead, InMemoryStore(), overhead_turns)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_store = SQLiteStore(Path(tmp) / "overhead.db")
        sql, sql_wall = anyio.run(_overhead, sqlite_store, overhead_turns)
        sqlite_store.close()
    p99 = max(percentile(overshoot, 99), percentile(alone, 99))
    meets = p99 <= 20.0 and errors == 0 and stored == turns and mem <= 1.0 and sql <= 3.0
    return AgentBenchResult(
        budget_ms=budget_ms,
        stall_turns=turns,
        overshoot_p50_ms=round(percentile(overshoot, 50), 3),
        overshoot_p99_ms=round(percentile(overshoot, 99), 3),
        overshoot_deep_only_p50_ms=round(percentile(alone, 50), 3),
        overshoot_deep_only_p99_ms=round(percentile(alone, 99), 3),
        stall_outcomes=dict(stall_outcomes),
        fault_turns=turns,
        fault_outcomes=dict(fault_outcomes),
        fault_errors=errors,
        fault_stored=stored,
        fault_requests=requests,
        overhead_turns=overhead_turns,
        overhead_memory_p50_ms=round(mem, 4),
        overhead_sqlite_p50_ms=round(sql, 4),
        turn_memory_p50_ms=round(mem_wall, 4),
        turn_sqlite_p50_ms=round(sql_wall, 4),
        meets_targets=meets,
    )
