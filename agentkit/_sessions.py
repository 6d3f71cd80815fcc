"""Conversation history per session: the `SessionStore` seam, in memory and in SQLite.

A turn is written with one `append` call, atomically: a crash or an error
mid-write (a failed ``COMMIT`` included) leaves either the whole turn or
nothing, and the next write starts clean. A turn is stored whole: the user's
message, the tool calls and their results, the answer. `load` returns the most
recent messages that fit a character budget, starting at a user message, so
the history never opens with an orphaned answer. Text reaches a store only
after PII redaction (see `redact_pii`), when the agent's policy asks for it.

A turn waiting for approvals is kept apart, one per session (`save_pending`,
`load_pending`, `take_pending`): it joins the history only once it is resumed
and finished.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

import anyio
import anyio.to_thread
import structlog

from agentkit._approval_types import PendingTurn
from agentkit._errors import ConfigError
from agentkit._messages import Message
from agentkit._safety_types import PIISpan

__all__ = [
    "SCHEMA_VERSION",
    "InMemoryStore",
    "SQLiteStore",
    "SessionStore",
    "redact_pii",
    "trim_history",
]

_log = structlog.get_logger("agentkit.sessions")


def redact_pii(text: str, spans: Sequence[PIISpan]) -> str:
    """Replace each PII span of ``text`` with ``[KIND]`` (overlapping spans merge).

    Example:
        >>> redact_pii("mail bob@x.org now", [PIISpan(kind="email", start=5, end=14)])
        'mail [EMAIL] now'
    """
    out: list[str] = []
    pos = 0
    for span in sorted(spans, key=lambda s: s.start):
        start, end = max(span.start, pos), min(span.end, len(text))
        if end <= start:
            continue
        out.append(text[pos:start])
        out.append(f"[{span.kind.upper()}]")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def trim_history(messages: Sequence[Message], max_chars: int) -> list[Message]:
    """The newest messages whose contents fit ``max_chars``, starting at a user message."""
    kept: list[Message] = []
    total = 0
    for message in reversed(messages):
        total += len(message.content or "")
        if total > max_chars:
            break
        kept.append(message)
    kept.reverse()
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept


@runtime_checkable
class SessionStore(Protocol):
    """Where conversation history lives between turns."""

    async def load(self, session_id: str, *, max_chars: int) -> list[Message]:
        """The session's recent history, trimmed to ``max_chars`` of content."""
        ...

    async def append(self, session_id: str, messages: Sequence[Message]) -> None:
        """Add one turn's messages, all or nothing."""
        ...

    async def save_pending(self, session_id: str, turn: PendingTurn) -> None:
        """Keep a turn waiting for approvals (replacing the session's previous one)."""
        ...

    async def load_pending(self, session_id: str) -> PendingTurn | None:
        """The session's waiting turn, if any (possibly expired: the runner checks)."""
        ...

    async def take_pending(self, session_id: str, turn_id: str) -> bool:
        """Remove the waiting turn ``turn_id``, atomically; whether this call removed it.

        Two resumes of one turn race here: exactly one gets True.
        """
        ...


class InMemoryStore:
    """History in a dict: for tests, demos and single-process apps."""

    def __init__(self) -> None:
        self._sessions: dict[str, list[Message]] = {}
        self._pending: dict[str, PendingTurn] = {}

    async def load(self, session_id: str, *, max_chars: int) -> list[Message]:
        """The session's recent history (see `trim_history`)."""
        return trim_history(self._sessions.get(session_id, ()), max_chars)

    async def append(self, session_id: str, messages: Sequence[Message]) -> None:
        """Add a turn; a list extend cannot be interrupted halfway by the event loop."""
        self._sessions.setdefault(session_id, []).extend(messages)

    def count(self, session_id: str) -> int:
        """How many messages a session holds."""
        return len(self._sessions.get(session_id, ()))

    async def save_pending(self, session_id: str, turn: PendingTurn) -> None:
        """Keep a turn waiting for approvals."""
        self._pending[session_id] = turn

    async def load_pending(self, session_id: str) -> PendingTurn | None:
        """The session's waiting turn, if any."""
        return self._pending.get(session_id)

    async def take_pending(self, session_id: str, turn_id: str) -> bool:
        """Remove the waiting turn ``turn_id`` (no await in between: atomic)."""
        turn = self._pending.get(session_id)
        if turn is None or turn.turn_id != turn_id:
            return False
        del self._pending[session_id]
        return True


_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    chars INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_session ON messages (session_id, id);
"""
# Schema versions (``PRAGMA user_version``), each step applied in order, in one
# transaction: 0 -> 1 adds the turns waiting for approvals.
_MIGRATIONS = (
    """
    CREATE TABLE IF NOT EXISTS pending (
        session_id TEXT PRIMARY KEY,
        turn_id TEXT NOT NULL,
        expires_at REAL NOT NULL,
        body TEXT NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)
_LOAD = """
SELECT body FROM (
    SELECT body, SUM(chars) OVER (ORDER BY id DESC) AS total
    FROM (SELECT id, chars, body FROM messages WHERE session_id = ? ORDER BY id DESC LIMIT ?)
) WHERE total <= ?
"""


class SQLiteStore:
    """History in an SQLite file (stdlib ``sqlite3``), used from a worker thread.

    One connection, serialised by a lock, in WAL mode; each `append` is one
    transaction, rolled back on any failure (``COMMIT`` included). ``load``
    trims in SQL (a running sum of content lengths over the newest rows, at
    most ``max_rows``), so only kept rows are parsed.

    Both honour the caller's deadline (the innermost anyio cancel scope's): the
    worker thread waits for the lock and a busy database only until then, and a
    statement still running is interrupted. The thread has always finished, and
    rolled back, when the cancellation reaches the caller, so a write cut by its
    deadline has left nothing. Without a deadline, a busy database is waited
    for up to sqlite's default of 5 s.

    Args:
        path: Database file (``":memory:"`` for a private in-memory database).
        max_rows: Newest rows read per `load` before trimming.
    """

    def __init__(self, path: str | Path, *, max_rows: int = 200) -> None:
        self.path = str(path)
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._migrate()

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying connection (for migrations and tests; hold no transaction open)."""
        return self._conn

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    def _migrate(self) -> None:
        """Bring the schema to `SCHEMA_VERSION` (a file of any earlier version works).

        Raises:
            ConfigError: The file was written by a newer agentkit.
        """
        (version,) = self._conn.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            why = f"schema version {version} is newer than this agentkit's ({SCHEMA_VERSION})"
            raise ConfigError("path", why)
        if version == SCHEMA_VERSION:
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for step in _MIGRATIONS[version:]:
                for statement in filter(str.strip, step.split(";")):
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _bounded(self, limit_s: float | None) -> Iterator[None]:
        """Hold the lock and bound the work by ``limit_s`` (lock wait, busy wait, statements)."""
        if not self._lock.acquire(timeout=-1 if limit_s is None else max(limit_s, 0.0)):
            raise sqlite3.OperationalError("session store busy: out of time waiting for it")
        try:
            if limit_s is None:
                yield
                return
            end = time.monotonic() + limit_s
            ms = max(0, int((end - time.monotonic()) * 1000))
            self._conn.execute(f"PRAGMA busy_timeout = {ms}")
            # Called every 1000 VM steps: a statement still running at the end is interrupted.
            self._conn.set_progress_handler(lambda: int(time.monotonic() > end), 1000)
            try:
                yield
            finally:
                self._conn.set_progress_handler(None, 0)
                self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
        finally:
            self._lock.release()

    def _load(self, session_id: str, max_chars: int, limit_s: float | None) -> list[Message]:
        with self._bounded(limit_s):
            rows = self._conn.execute(_LOAD, (session_id, self.max_rows, max_chars)).fetchall()
        messages = []
        for (body,) in reversed(rows):
            try:
                messages.append(Message.model_validate_json(body))
            except ValueError:  # one corrupt row must not cost the whole history
                _log.warning("session_row_unreadable", path=self.path)
        return trim_history(messages, max_chars)

    def _append(
        self, session_id: str, bodies: list[tuple[int, str]], limit_s: float | None
    ) -> None:
        with self._bounded(limit_s):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT INTO messages (session_id, chars, body) VALUES (?, ?, ?)",
                    [(session_id, chars, body) for chars, body in bodies],
                )
                self._conn.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (a full disk, a busy database, a deferred constraint)
                # leaves the transaction open; some errors have already rolled it back.
                if self._conn.in_transaction:
                    with suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise

    async def load(self, session_id: str, *, max_chars: int) -> list[Message]:
        """The session's recent history (see `trim_history`), within the caller's deadline."""
        return await _in_thread(partial(self._load, session_id, max_chars))

    async def append(self, session_id: str, messages: Sequence[Message]) -> None:
        """Add a turn in one transaction (rolled back entirely on any error or deadline)."""
        bodies = [(len(m.content or ""), m.model_dump_json(exclude_none=True)) for m in messages]
        await _in_thread(partial(self._append, session_id, bodies))

    def _save_pending(self, session_id: str, turn: PendingTurn, limit_s: float | None) -> None:
        row = (session_id, turn.turn_id, turn.expires_at, turn.model_dump_json())
        with self._bounded(limit_s):
            self._conn.execute("INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?)", row)

    def _load_pending(self, session_id: str, limit_s: float | None) -> PendingTurn | None:
        with self._bounded(limit_s):
            row = self._conn.execute(
                "SELECT body FROM pending WHERE session_id = ?", (session_id,)
            ).fetchone()
        if row is None:
            return None
        try:
            return PendingTurn.model_validate_json(row[0])
        except ValueError:  # unreadable: as if nothing waited (logged)
            _log.warning("session_pending_unreadable", path=self.path)
            return None

    def _take_pending(self, session_id: str, turn_id: str, limit_s: float | None) -> bool:
        with self._bounded(limit_s):
            cursor = self._conn.execute(
                "DELETE FROM pending WHERE session_id = ? AND turn_id = ?", (session_id, turn_id)
            )
        return cursor.rowcount == 1

    async def save_pending(self, session_id: str, turn: PendingTurn) -> None:
        """Keep a turn waiting for approvals (one per session), within the caller's deadline."""
        await _in_thread(partial(self._save_pending, session_id, turn))

    async def load_pending(self, session_id: str) -> PendingTurn | None:
        """The session's waiting turn, if any."""
        return await _in_thread(partial(self._load_pending, session_id))

    async def take_pending(self, session_id: str, turn_id: str) -> bool:
        """Remove the waiting turn ``turn_id`` (one ``DELETE``: atomic across processes)."""
        return await _in_thread(partial(self._take_pending, session_id, turn_id))

    def count(self, session_id: str) -> int:
        """How many messages a session holds."""
        with self._lock:
            (n,) = self._conn.execute(
                "SELECT COUNT(*) FROM messages WHERE session_id = ?", (session_id,)
            ).fetchone()
        return int(n)


_BUSY_MS = 5000  # sqlite3's own default busy timeout, restored after a bounded call
_T = TypeVar("_T")


async def _in_thread(fn: Callable[[float | None], _T]) -> _T:
    """``fn(limit_s)`` in a worker thread; ``limit_s``: time to the caller's deadline.

    The thread is not abandoned on cancellation: it ends by ``limit_s`` on its own
    (None: no deadline), so its outcome is settled when the caller resumes.
    """
    deadline = anyio.current_effective_deadline()
    limit_s = None if math.isinf(deadline) else deadline - anyio.current_time()
    return await anyio.to_thread.run_sync(fn, limit_s)
