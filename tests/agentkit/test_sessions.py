"""Session stores: atomic turns, trimming, redaction helper, and use from the runner."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from agentkit import Message, ScriptedModel
from agentkit._agent import Agent
from agentkit._runner import Runner
from agentkit._safety_types import PIISpan
from agentkit._sessions import InMemoryStore, SQLiteStore, redact_pii, trim_history


def test_sqlite_turn_is_all_or_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    # A real failure inside the transaction: the second insert of the turn aborts.
    store.connection.execute(
        "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.body LIKE '%POISON%' "
        "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
    )
    good = [Message.user("hello"), Message.assistant("hi")]
    bad = [Message.user("second"), Message.assistant("POISON")]

    async def main() -> list[Message]:
        await store.append("s", good)
        with pytest.raises(sqlite3.IntegrityError):
            await store.append("s", bad)
        return await store.load("s", max_chars=10_000)

    assert anyio.run(main) == good
    assert store.count("s") == 2
    store.close()


def test_sqlite_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    anyio.run(lambda: SQLiteStore(path).append("a", [Message.user("q"), Message.assistant("r")]))
    loaded = anyio.run(lambda: SQLiteStore(path).load("a", max_chars=100))
    assert [m.content for m in loaded] == ["q", "r"]


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


@pytest.mark.parametrize("make", [InMemoryStore, lambda: SQLiteStore(":memory:")])
def test_stores_trim_on_load(make: object) -> None:
    store = make()  # type: ignore[operator]

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


def test_runner_writes_every_turn_to_sqlite(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    agent = Agent(fast=ScriptedModel(["one", "two", "three"]), store=store)
    for text in ("a", "b", "c"):
        assert Runner.run_sync(agent, text, session_id="conv").outcome == "ok"
    assert store.count("conv") == 6
    history = anyio.run(lambda: store.load("conv", max_chars=1000))
    assert [m.content for m in history] == ["a", "one", "b", "two", "c", "three"]


def test_unreadable_history_still_answers(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "gone.db")
    store.connection.execute("DROP TABLE messages")  # a broken database
    agent = Agent(fast=ScriptedModel(["still here"]), store=store)
    result = Runner.run_sync(agent, "hello", session_id="x")
    assert (result.outcome, result.text) == ("ok", "still here")
    assert "session history unavailable" in result.reasons
    assert "session write failed" in result.reasons
