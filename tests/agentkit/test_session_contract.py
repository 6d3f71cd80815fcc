"""The `SessionStore` contract, written once and run against every durable store.

Each store (SQLite; Redis on a private `redis-server`) gets the same suite:
round trips, trimming, all-or-nothing turns, writes bounded by the caller's
deadline, corrupt entries, reopening, concurrency and use from the runner.
A `Backend` supplies what only it can do: break a write for real, block
writes, corrupt an entry, be unreachable.
"""

from __future__ import annotations

import socket
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import anyio
import pytest

from agentkit import Message, ScriptedModel
from agentkit._agent import Agent
from agentkit._budget import BudgetPolicy
from agentkit._runner import Runner
from agentkit._sessions import SQLiteStore
from tests.agentkit._redis_server import SKIP_REASON, redis_server, redis_server_path

Store = Any  # SQLiteStore | RedisStore: load, append, count, close


class Backend(Protocol):
    def store(self, **options: Any) -> Store: ...
    def reopen(self, store: Store) -> Store: ...
    def corrupt(self, store: Store, session_id: str) -> None: ...
    def poison(self, store: Store) -> list[Message]: ...
    def blocked(self, store: Store) -> Any: ...
    def broken(self) -> Store: ...


class SQLiteBackend:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    def store(self, **options: Any) -> Store:
        return SQLiteStore(self.tmp / f"{uuid.uuid4().hex}.db", **options)

    def reopen(self, store: Store) -> Store:
        return SQLiteStore(store.path)

    def corrupt(self, store: Store, session_id: str) -> None:
        store.connection.execute(
            "INSERT INTO messages (session_id, chars, body) VALUES (?, 3, '{not json')",
            (session_id,),
        )

    def poison(self, store: Store) -> list[Message]:
        store.connection.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.body LIKE '%POISON%' "
            "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
        )
        return [Message.user("two"), Message.assistant("POISON")]

    @contextmanager
    def blocked(self, store: Store) -> Iterator[None]:
        other = sqlite3.connect(store.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process is writing, and slow about it
        try:
            yield
        finally:
            other.rollback()
            other.close()

    def broken(self) -> Store:
        store = self.store()
        store.connection.execute("DROP TABLE messages")
        return store


class RedisBackend:
    def __init__(self, url: str) -> None:
        import redis

        from agentkit.sessions import RedisStore

        self.url = url
        self.raw = redis.Redis.from_url(url)
        self.cls = RedisStore

    def store(self, **options: Any) -> Store:
        return self.cls(self.url, prefix=f"t{uuid.uuid4().hex[:12]}:", **options)

    def reopen(self, store: Store) -> Store:
        return self.cls(self.url, prefix=store.prefix)

    def corrupt(self, store: Store, session_id: str) -> None:
        self.raw.rpush(store.key(session_id), b"{not json")

    def poison(self, store: Store) -> list[Message]:
        # The test server takes arguments of at most 1 MB: this turn's write fails there.
        return [Message.user("two"), Message.assistant("POISON " + "x" * 1_100_000)]

    @contextmanager
    def blocked(self, store: Store) -> Iterator[None]:
        self.raw.execute_command("CLIENT", "PAUSE", 5000, "WRITE")
        try:
            yield
        finally:
            self.raw.execute_command("CLIENT", "UNPAUSE")

    def broken(self) -> Store:
        with socket.socket() as probe:  # a port with nobody listening
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return self.cls(f"redis://127.0.0.1:{port}/0", socket_timeout_s=0.5)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if redis_server_path() is None:
        pytest.skip(SKIP_REASON)
    pytest.importorskip(
        "redis", reason="the redis extra is not installed: pip install 'agentkit[redis]'"
    )
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return SQLiteBackend(tmp_path)
    return RedisBackend(request.getfixturevalue("redis_url"))


class ToolCallTurn:
    """A turn with a tool call and its result: non-text fields survive the store."""

    def __init__(self) -> None:
        from agentkit import ToolCall

        call = ToolCall.of("c1", "calc", '{"expression": "2+2"}')
        self.messages = [
            Message.user("2+2? ünïcödé ✓"),
            Message.assistant(None, [call]),
            Message.tool("c1", "4"),
        ]


def _turn(i: int) -> list[Message]:
    return [Message.user(f"q{i}"), Message.assistant(f"a{i}")]


def test_round_trip_keeps_order_and_sessions_apart(backend: Backend) -> None:
    store = backend.store()
    call = ToolCallTurn()

    async def main() -> tuple[list[Message], list[Message], list[Message]]:
        await store.append("s", _turn(1))
        await store.append("other", [Message.user("elsewhere")])
        await store.append("s", call.messages)
        await store.append("s", [])  # nothing to write is not an error
        return (
            await store.load("s", max_chars=10_000),
            await store.load("other", max_chars=10_000),
            await store.load("missing", max_chars=10_000),
        )

    s, other, missing = anyio.run(main)
    assert s == _turn(1) + call.messages
    assert other == [Message.user("elsewhere")]
    assert missing == []
    assert (store.count("s"), store.count("other"), store.count("missing")) == (5, 1, 0)
    store.close()


def test_load_trims_to_the_budget_from_a_user_message(backend: Backend) -> None:
    store = backend.store()

    async def main() -> list[Message]:
        for i in range(5):
            await store.append("x", [Message.user(f"u{i}"), Message.assistant("a" * 10)])
        return await store.load("x", max_chars=25)

    assert [m.content for m in anyio.run(main)] == ["u3", "a" * 10, "u4", "a" * 10]
    assert anyio.run(lambda: store.load("x", max_chars=0)) == []


def test_load_reads_at_most_max_rows(backend: Backend) -> None:
    store = backend.store(max_rows=4)

    async def main() -> list[Message]:
        for i in range(6):
            await store.append("x", _turn(i))
        return await store.load("x", max_chars=10_000)

    assert anyio.run(main) == _turn(4) + _turn(5)


def test_a_failed_write_leaves_nothing_and_the_next_one_lands(backend: Backend) -> None:
    store = backend.store()
    poisoned = backend.poison(store)

    async def main() -> list[Message]:
        await store.append("s", _turn(1))
        with pytest.raises(Exception) as info:
            await store.append("s", poisoned)
        assert not isinstance(info.value, AssertionError)
        await store.append("s", _turn(3))
        return await store.load("s", max_chars=10_000_000)

    assert anyio.run(main) == _turn(1) + _turn(3)
    assert store.count("s") == 4


def test_a_write_cut_by_the_callers_deadline_leaves_nothing(backend: Backend) -> None:
    store = backend.store()

    async def main() -> float:
        start = anyio.current_time()
        with backend.blocked(store):
            with anyio.move_on_after(0.1), pytest.raises(Exception) as info:
                await store.append("s", _turn(1))
            assert not isinstance(info.value, AssertionError)
            elapsed = anyio.current_time() - start
        await anyio.sleep(0.05)  # a write still queued somewhere would land now
        return elapsed

    assert anyio.run(main) < 1.0
    assert store.count("s") == 0
    anyio.run(lambda: store.append("s", _turn(2)))  # and the store still works
    assert store.count("s") == 2


def test_a_corrupt_entry_costs_that_entry_only(backend: Backend) -> None:
    store = backend.store()
    anyio.run(lambda: store.append("s", _turn(1)))
    backend.corrupt(store, "s")
    anyio.run(lambda: store.append("s", _turn(2)))
    assert anyio.run(lambda: store.load("s", max_chars=100)) == _turn(1) + _turn(2)


def test_history_survives_reopening(backend: Backend) -> None:
    store = backend.store()
    anyio.run(lambda: store.append("a", _turn(1)))
    store.close()
    again = backend.reopen(store)
    assert anyio.run(lambda: again.load("a", max_chars=100)) == _turn(1)
    again.close()


def test_concurrent_turns_all_land_and_never_interleave(backend: Backend) -> None:
    store = backend.store()

    async def main() -> list[Message]:
        async with anyio.create_task_group() as group:
            for i in range(20):
                group.start_soon(store.append, "s", _turn(i))
        return await store.load("s", max_chars=100_000)

    history = anyio.run(main)
    assert len(history) == 40
    pairs = [(history[k].content, history[k + 1].content) for k in range(0, 40, 2)]
    assert sorted(pairs) == sorted((f"q{i}", f"a{i}") for i in range(20))


def test_the_runner_writes_every_turn(backend: Backend) -> None:
    store = backend.store()
    agent = Agent(fast=ScriptedModel(["one", "two", "three"]), store=store)
    for text in ("a", "b", "c"):  # run_sync: a new event loop per turn
        assert Runner.run_sync(agent, text, session_id="conv").session_saved is True
    history = anyio.run(lambda: store.load("conv", max_chars=1000))
    assert [m.content for m in history] == ["a", "one", "b", "two", "c", "three"]


def test_an_unusable_store_still_answers(backend: Backend) -> None:
    agent = Agent(fast=ScriptedModel(["still here"]), store=backend.broken(), budget_ms=3000)
    result = Runner.run_sync(agent, "hello", session_id="x")
    assert (result.outcome, result.text, result.session_saved) == ("ok", "still here", False)
    assert "session history unavailable" in result.reasons
    assert any(r.startswith("session not saved") for r in result.reasons)


def test_a_blocked_store_delays_the_turn_by_at_most_store_ms(backend: Backend) -> None:
    store = backend.store()
    agent = Agent(
        fast=ScriptedModel(["hello", "again"]),
        store=store,
        budget_ms=400,
        policy=BudgetPolicy(store_ms=150),
    )
    with backend.blocked(store):
        result = Runner.run_sync(agent, "hi", session_id="c")
    assert (result.outcome, result.text, result.session_saved) == ("ok", "hello", False)
    assert any(r.startswith("session not saved") for r in result.reasons)
    assert result.elapsed_ms < 400 + 150 + 300
    assert Runner.run_sync(agent, "hi again", session_id="c").session_saved is True
    history = anyio.run(lambda: store.load("c", max_chars=100))
    assert [m.content for m in history] == ["hi again", "again"]


def test_the_sessions_module_exports_every_store(backend: Backend) -> None:
    import agentkit.sessions
    from agentkit.sessions import InMemoryStore, SessionStore

    assert agentkit.sessions.__all__ == [
        "InMemoryStore",
        "RedisStore",
        "SQLiteStore",
        "SessionStore",
    ]
    assert all(getattr(agentkit.sessions, name).__doc__ for name in agentkit.sessions.__all__)
    assert isinstance(backend.store(), SessionStore)
    assert isinstance(InMemoryStore(), SessionStore)
