"""`RedisStore`: session history in Redis, shared by every process behind a load balancer.

Same contract as `SQLiteStore` (see `agentkit._sessions`): a turn is written
atomically, a write cut by the caller's deadline leaves nothing, `load` returns
the newest messages that fit a character budget starting at a user message,
and one unreadable entry costs that entry only. On top: every session key has
a TTL, renewed by each turn.

Layout: one Redis list per session (``{prefix}{session_id}``), one entry per
message, ``"{chars}:{json}"``, so that `load` trims by length before parsing.
A turn is one Lua script: it checks the caller's deadline on the server's
clock, then ``RPUSH`` es every message of the turn (one command: all or
nothing), renews the TTL and caps the list. A script that reaches the server
after the deadline writes nothing, so a turn the caller gave up on never lands
later, even when Redis was busy (paused, or in a slow command) when it came.

A turn waiting for approvals is one string key per session
(``{prefix}{session_id}\\x1fpending``, ``"{turn_id}\\n{json}"``), kept until a day
past its expiry; taking it is one script that deletes it only if it still holds
that turn, so of two resumes exactly one wins.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from agentkit._approval_types import PendingTurn
from agentkit._errors import ConfigError
from agentkit._messages import Message
from agentkit._sessions import trim_history

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["RedisStore"]

_log = structlog.get_logger("agentkit.sessions")

_EXTRA = "RedisStore needs the optional 'redis' package: pip install 'agentkit[redis]'"

# KEYS[1]: the session list. ARGV: deadline (ms on the server's clock; 0: none),
# TTL (ms; 0: none), most entries kept (0: all), then the entries of the turn.
_APPEND = """
local deadline = tonumber(ARGV[1])
if deadline > 0 then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > deadline then
    return -1
  end
end
local n = redis.call('RPUSH', KEYS[1], unpack(ARGV, 4))
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
local cap = tonumber(ARGV[3])
if cap > 0 and n > cap then redis.call('LTRIM', KEYS[1], -cap, -1) end
return n
"""
# KEYS[1]: a waiting turn's key. ARGV[1]: its turn id. Deleted only if it is that turn,
# so of two resumes of one turn exactly one gets 1.
_TAKE = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. '\\n' then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
# A waiting turn is kept this long past its expiry, so a late resume is told it expired.
_PENDING_GRACE_S = 24 * 3600.0
# How long past the caller's deadline the reply of a sent script is awaited: the
# script ran by the deadline or wrote nothing, and its reply is one round trip away.
_REPLY_GRACE_S = 0.1
_CLOCK_TTL_S = 300.0  # re-measure the offset to the server's clock this often


def _redis() -> Any:
    try:  # an optional extra: imported only when a RedisStore is built
        import redis.asyncio
        import redis.asyncio.retry
        import redis.backoff
        import redis.retry
    except ImportError as exc:
        raise ImportError(_EXTRA) from exc
    return redis


def _unsent(error: Exception) -> bool:
    """Whether a connection error happened before the command left (safe to repeat)."""
    return str(error).startswith("Connection closed by the server before write")


def _entry(message: Message) -> str:
    return f"{len(message.content or '')}:{message.model_dump_json(exclude_none=True)}"


def _split(raw: bytes) -> tuple[int, bytes] | None:
    """An entry's content length and JSON body; None for an entry that is not ours."""
    head, sep, body = raw.partition(b":")
    if not sep or not head.isdigit():
        return None
    return int(head), body


class RedisStore:
    """History in Redis (redis-py's asyncio client): one list per session, with a TTL.

    Several processes (and machines) can share one Redis: each turn is one
    atomic script, and concurrent turns of one session never interleave.
    `append` honours the caller's deadline (the innermost anyio cancel scope's)
    on the server's own clock: a turn that reaches Redis too late is dropped
    there, and the caller gets `TimeoutError`. `load` is cut by the deadline
    like any read.

    The asyncio client is bound to an event loop, so the store keeps one per
    running loop (`Runner.run_sync` starts a loop per turn); the trio backend
    is not supported. Connections are not retried: a failed call surfaces at
    once and the turn reports the session as unavailable or not saved.

    Args:
        url: Redis URL, e.g. ``redis://127.0.0.1:6379/0`` (``rediss://`` for TLS).
        prefix: Prefix of every session key.
        ttl_s: Lifetime of a session after its last turn; None keeps sessions for ever.
        max_rows: Newest entries read per `load` before trimming.
        max_messages: Most messages kept per session (the oldest go); None keeps all.
        socket_timeout_s: Limit on one network operation when no deadline is set.

    Raises:
        ImportError: The ``redis`` package is not installed (``agentkit[redis]``).
        ConfigError: A limit is not positive.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "agentkit:session:",
        ttl_s: float | None = 7 * 24 * 3600.0,
        max_rows: int = 200,
        max_messages: int | None = None,
        socket_timeout_s: float = 5.0,
    ) -> None:
        self._redis = _redis()
        if ttl_s is not None and not 0 < ttl_s < math.inf:
            raise ConfigError("ttl_s", "must be > 0 and finite, or None")
        if max_rows < 1 or (max_messages is not None and max_messages < 1):
            raise ConfigError("max_rows", "limits must be >= 1")
        if not 0 < socket_timeout_s < math.inf:
            raise ConfigError("socket_timeout_s", "must be > 0 and finite")
        self.url = url
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.max_rows = max_rows
        self.max_messages = max_messages
        self.socket_timeout_s = socket_timeout_s
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = (
            weakref.WeakKeyDictionary()
        )
        self._sync: redis.Redis | None = None
        self._offset_ms = 0.0  # server clock - local clock
        self._offset_at = -math.inf

    def key(self, session_id: str) -> str:
        """The Redis key holding a session's list."""
        return self.prefix + session_id

    def pending_key(self, session_id: str) -> str:
        """The Redis key holding a session's turn waiting for approvals."""
        return f"{self.prefix}{session_id}\x1fpending"  # unit separator: not in sane ids

    def _options(self, retry_module: Any) -> dict[str, Any]:
        # One retry, and only for a pooled connection found closed before anything was
        # sent (Redis restarted, an idle timeout): a command that may have reached Redis
        # is never repeated, so a turn cannot be written twice.
        retry = retry_module.Retry(
            self._redis.backoff.NoBackoff(),
            1,
            supported_errors=(self._redis.ConnectionError,),
            is_retryable=_unsent,
        )
        return {
            "socket_timeout": self.socket_timeout_s,
            "socket_connect_timeout": self.socket_timeout_s,
            "retry": retry,
        }

    def _client(self) -> redis.asyncio.Redis:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise ConfigError("store", "RedisStore runs on the asyncio backend only") from None
        client = self._clients.get(loop)
        if client is None:
            options = self._options(self._redis.asyncio.retry)
            client = self._redis.asyncio.Redis.from_url(self.url, **options)
            self._clients[loop] = client
        return client

    async def load(self, session_id: str, *, max_chars: int) -> list[Message]:
        """The session's recent history (see `trim_history`), within the caller's deadline."""
        rows: list[Any] = await self._client().lrange(self.key(session_id), -self.max_rows, -1)
        bodies: list[bytes] = []
        total = 0
        for raw in reversed(rows):
            split = _split(raw)
            if split is None:
                _log.warning("session_row_unreadable", store="redis")
                continue
            total += split[0]
            if total > max_chars:
                break
            bodies.append(split[1])
        messages = []
        for body in reversed(bodies):
            try:
                messages.append(Message.model_validate_json(body))
            except ValueError:  # one corrupt entry must not cost the whole history
                _log.warning("session_row_unreadable", store="redis")
        return trim_history(messages, max_chars)

    async def append(self, session_id: str, messages: Sequence[Message]) -> None:
        """Add a turn atomically; dropped by Redis if it arrives past the caller's deadline.

        Raises:
            TimeoutError: The caller's deadline passed first; nothing was written.
            redis.RedisError: Redis refused the write or cannot be reached.
        """
        if not messages:
            return
        client = self._client()
        deadline = anyio.current_effective_deadline()
        deadline_ms = 0
        if not math.isinf(deadline):
            await self._sync_clock(client)
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                raise TimeoutError("session write: the deadline had passed; nothing written")
            deadline_ms = int((time.time() + remaining) * 1000.0 + self._offset_ms)
        ttl_ms = 0 if self.ttl_s is None else max(1, int(self.ttl_s * 1000))
        args: list[str | int] = [deadline_ms, ttl_ms, self.max_messages or 0]
        args += map(_entry, messages)
        # Shielded: once sent, the script either ran by the deadline or writes nothing,
        # and its reply tells which; cancelling mid-reply would hide a write that landed.
        with anyio.CancelScope(shield=True) as scope:
            if not math.isinf(deadline):
                scope.deadline = deadline + _REPLY_GRACE_S
            written = await client.eval(_APPEND, 1, self.key(session_id), *args)
        if scope.cancelled_caught or written == -1:
            raise TimeoutError("session write reached Redis after its deadline; nothing written")

    async def save_pending(self, session_id: str, turn: PendingTurn) -> None:
        """Keep a turn waiting for approvals, until a day past its expiry."""
        keep_ms = max(1, int((turn.expires_at - time.time() + _PENDING_GRACE_S) * 1000))
        value = f"{turn.turn_id}\n{turn.model_dump_json()}"
        await self._client().set(self.pending_key(session_id), value, px=keep_ms)

    async def load_pending(self, session_id: str) -> PendingTurn | None:
        """The session's waiting turn, if any (an unreadable one is logged and ignored)."""
        raw = await self._client().get(self.pending_key(session_id))
        if raw is None:
            return None
        body = raw.encode() if isinstance(raw, str) else raw
        try:
            return PendingTurn.model_validate_json(body.partition(b"\n")[2])
        except ValueError:
            _log.warning("session_pending_unreadable", store="redis")
            return None

    async def take_pending(self, session_id: str, turn_id: str) -> bool:
        """Remove the waiting turn ``turn_id`` (one script: atomic across processes)."""
        taken = await self._client().eval(_TAKE, 1, self.pending_key(session_id), turn_id)
        return bool(taken)

    async def _sync_clock(self, client: redis.asyncio.Redis) -> None:
        """Measure the server clock's offset (midpoint of one round trip), now and then."""
        if time.monotonic() - self._offset_at < _CLOCK_TTL_S:
            return
        before = time.time()
        seconds, micros = await client.time()
        after = time.time()
        self._offset_ms = (seconds + micros / 1e6 - (before + after) / 2.0) * 1000.0
        self._offset_at = time.monotonic()

    def count(self, session_id: str) -> int:
        """How many messages a session holds (a blocking call; for tools and tests)."""
        if self._sync is None:
            options = self._options(self._redis.retry)
            self._sync = self._redis.Redis.from_url(self.url, **options)
        return int(self._sync.llen(self.key(session_id)))

    async def aclose(self) -> None:
        """Close the current event loop's connections."""
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        """Close the blocking connection `count` uses (async ones: `aclose`)."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None
