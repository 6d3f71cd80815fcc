"""The `SessionStore` contract for turns waiting for approvals, on every store.

Same backends as tests/agentkit/test_session_contract.py (SQLite; Redis on a
private `redis-server`, skipped where it is missing), plus the in-memory store:
a waiting turn round-trips, one per session, is taken by exactly one of many
racing resumes, survives reopening, and the runner's approve/resume cycle works
on each store.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit import Message, ToolCall
from agentkit._approval_types import Approval, ApprovalRequest, PendingTurn
from agentkit._runner import Runner
from agentkit._sessions import InMemoryStore, SessionStore
from tests.agentkit import _approval_agent as bank
from tests.agentkit._approval_agent import approval_agent
from tests.agentkit.test_session_contract import (
    RedisBackend,
    SQLiteBackend,
    redis_url,
)

__all__ = ["redis_url"]  # the fixture, shared with the history contract


class MemoryBackend:
    def __init__(self) -> None:
        self.shared = InMemoryStore()

    def store(self, **options: Any) -> Any:
        return self.shared

    def reopen(self, store: Any) -> Any:
        return store


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory":
        return MemoryBackend()
    if request.param == "sqlite":
        return SQLiteBackend(tmp_path)
    return RedisBackend(request.getfixturevalue("redis_url"))


def _pending(turn_id: str = "t1", session_id: str = "s") -> PendingTurn:
    now = time.time()
    request = ApprovalRequest(
        call_id="c1", tool="refund", arguments='{"amount": 150}', session_id=session_id,
        expires_at=now + 60,
    )  # fmt: skip
    call = Message.assistant(None, [ToolCall.of("c1", "refund", '{"amount": 150}')])
    return PendingTurn(
        turn_id=turn_id,
        tier="fast",
        reason="routine",
        messages=(Message.user("refund ünïcödé ✓"), call),
        requests=(request,),
        created_at=now,
        expires_at=now + 60,
    )


def test_a_waiting_turn_round_trips_one_per_session(backend: Any) -> None:
    store = backend.store()
    sid = uuid.uuid4().hex

    async def main() -> tuple[Any, ...]:
        missing = await store.load_pending(sid)
        await store.save_pending(sid, _pending("t1", sid))
        await store.save_pending(sid, _pending("t2", sid))  # replaces the first
        await store.save_pending(sid + "-other", _pending("t9", sid))
        return missing, await store.load_pending(sid), await store.load_pending(sid + "-other")

    missing, mine, other = anyio.run(main)
    assert missing is None
    assert (mine.turn_id, mine.messages) == ("t2", _pending("t2", sid).messages)
    assert mine.requests[0].call_id == "c1" and mine.messages[1].tool_calls is not None
    assert other.turn_id == "t9"
    assert isinstance(store, SessionStore)


def test_only_the_named_turn_is_taken_and_only_once(backend: Any) -> None:
    store = backend.store()
    sid = uuid.uuid4().hex

    async def main() -> tuple[bool, bool, bool, Any]:
        await store.save_pending(sid, _pending("t1", sid))
        wrong = await store.take_pending(sid, "t0")
        right = await store.take_pending(sid, "t1")
        again = await store.take_pending(sid, "t1")
        return wrong, right, again, await store.load_pending(sid)

    assert anyio.run(main) == (False, True, False, None)


def test_of_many_racing_takes_exactly_one_wins(backend: Any) -> None:
    store = backend.store()
    sid = uuid.uuid4().hex
    wins: list[bool] = []

    async def take() -> None:
        wins.append(await store.take_pending(sid, "t1"))

    async def main() -> None:
        await store.save_pending(sid, _pending("t1", sid))
        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(take)

    anyio.run(main)
    assert sorted(wins) == [False] * 9 + [True]


def test_a_waiting_turn_survives_reopening(backend: Any) -> None:
    store = backend.store()
    sid = uuid.uuid4().hex
    anyio.run(store.save_pending, sid, _pending("t1", sid))
    again = backend.reopen(store)
    loaded = anyio.run(again.load_pending, sid)
    assert loaded is not None and loaded.turn_id == "t1"
    assert loaded.messages[0].content == "refund ünïcödé ✓"


def test_approve_and_resume_on_the_store(backend: Any) -> None:
    bank.REFUNDS.clear()
    store = backend.store()
    sid = uuid.uuid4().hex
    agent = approval_agent(250.0, store)
    stopped = Runner.run_sync(agent, "refund my 250 EUR", session_id=sid)
    assert stopped.outcome == "awaiting_approval" and stopped.session_saved is True
    reopened = approval_agent(250.0, backend.reopen(store))
    result = Runner.resume_sync(reopened, sid, [Approval.approve("call_1")])
    assert (result.outcome, result.text, bank.REFUNDS) == (
        "ok",
        "Done: refunded 250.00 EUR",
        [250.0],
    )
    history = anyio.run(lambda: reopened.store.load(sid, max_chars=10_000))
    assert [m.role for m in history] == ["user", "assistant", "tool", "assistant"]
