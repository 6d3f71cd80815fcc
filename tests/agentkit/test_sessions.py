"""Session stores: what is specific to SQLite and the in-memory store, trimming, redaction.

The contract every durable store keeps is in test_session_contract.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from agentkit import Message, ScriptedModel
from agentkit._agent import Agent
from agentkit._budget import BudgetPolicy
from agentkit._runner import Runner
from agentkit._safety_types import PIISpan
from agentkit._sessions import InMemoryStore, SQLiteStore, redact_pii, trim_history


def test_trim_keeps_the_newest_messages_and_starts_at_a_user_turn() -> None:
    history = []
    for i in range(10):
        history += [Message.user(f"q{i:02d}"), Message.assistant(f"answer {i:02d}")]
    kept = trim_history(history, max_chars=30)
    assert kept[0].role == "user"
    assert kept[-1].content == "answer 09"
    assert sum(len(m.content or "") for m in kept) <= 30
    assert kept == history[-len(kept) :]
    assert trim_history(history, 0) == []


def test_the_in_memory_store_trims_on_load() -> None:
    store = InMemoryStore()

    async def main() -> list[Message]:
        for i in range(5):
            await store.append("x", [Message.user(f"u{i}"), Message.assistant("a" * 10)])
        await store.append("other", [Message.user("elsewhere")])
        return list(await store.load("x", max_chars=25))

    kept = anyio.run(main)
    assert [m.content for m in kept] == ["u3", "a" * 10, "u4", "a" * 10]


def test_redact_pii_replaces_spans() -> None:
    text = "call 555-1234 or mail a@b.co"
    spans = [PIISpan(kind="phone", start=5, end=13), PIISpan(kind="email", start=22, end=28)]
    assert redact_pii(text, spans) == "call [PHONE] or mail [EMAIL]"
    assert redact_pii(text, []) == text


def _poison_commit(store: SQLiteStore) -> None:
    """Make COMMIT itself fail for a turn holding 'POISON': a deferred foreign key."""
    store.connection.executescript(
        """
        PRAGMA foreign_keys = ON;
        CREATE TABLE parent (id INTEGER PRIMARY KEY);
        CREATE TABLE child (pid INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
        CREATE TRIGGER poison AFTER INSERT ON messages WHEN NEW.body LIKE '%POISON%'
        BEGIN INSERT INTO child VALUES (42); END;
        """
    )


def test_a_failed_commit_is_rolled_back_and_later_turns_are_saved(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    _poison_commit(store)
    first = [Message.user("one"), Message.assistant("1")]
    later = [Message.user("three"), Message.assistant("3")]

    async def main() -> list[Message]:
        await store.append("s", first)
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            await store.append("s", [Message.user("two"), Message.assistant("POISON")])
        await store.append("s", later)  # no transaction left open by the failed COMMIT
        return await store.load("s", max_chars=10_000)

    assert anyio.run(main) == first + later
    assert not store.connection.in_transaction
    store.close()


def test_a_runner_turn_whose_commit_fails_reports_it_and_the_next_is_saved(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    _poison_commit(store)
    agent = Agent(fast=ScriptedModel(["POISON", "fine"]), store=store)
    bad = Runner.run_sync(agent, "a", session_id="c")
    assert (bad.outcome, bad.text, bad.session_saved) == ("ok", "POISON", False)
    assert "session not saved: IntegrityError" in bad.reasons
    good = Runner.run_sync(agent, "b", session_id="c")
    assert good.session_saved is True and store.count("c") == 2


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is writing, and slow about it
    return other


def test_a_store_write_bounded_by_the_callers_deadline_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStore(path)
    other = _hold_write_lock(path)

    async def main() -> float:
        start = anyio.current_time()
        # Cut by the deadline: the store's own "database is locked" comes back at it.
        with anyio.move_on_after(0.1), pytest.raises(sqlite3.OperationalError, match="locked"):
            await store.append("s", [Message.user("q"), Message.assistant("a")])
        return anyio.current_time() - start

    assert anyio.run(main) < 1.0
    other.rollback()
    other.close()
    assert store.count("s") == 0 and not store.connection.in_transaction


def test_a_slow_history_load_is_cut_by_its_slice(tmp_path: Path) -> None:
    class SlowStore(InMemoryStore):
        async def load(self, session_id: str, *, max_chars: int) -> list[Message]:
            await anyio.sleep(5.0)
            return []

    agent = Agent(
        fast=ScriptedModel(["answer"]),
        store=SlowStore(),
        budget_ms=1000,
        policy=BudgetPolicy(history_ms=50),
    )
    result = Runner.run_sync(agent, "hi", session_id="c")
    assert (result.outcome, result.text) == ("ok", "answer")
    assert "session history unavailable" in result.reasons
    assert result.elapsed_ms < 900


def test_no_session_means_no_save_status() -> None:
    result = Runner.run_sync(Agent(fast=ScriptedModel(["x"])), "hi")
    assert result.session_saved is None
