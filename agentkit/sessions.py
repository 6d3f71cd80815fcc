"""Where conversation history lives between turns: the `SessionStore` seam and its stores.

Every store keeps one contract (tests/agentkit/test_session_contract.py runs
the same suite against each durable one): a turn is written atomically, a
write cut by the caller's deadline leaves nothing, `load` returns the newest
messages that fit a character budget, starting at a user message, and an
unreadable entry costs that entry only.

- `InMemoryStore`: one process, for tests and demos.
- `SQLiteStore`: one machine (a file; WAL mode).
- `RedisStore`: many processes and machines behind a load balancer, with a TTL
  per session (the optional ``agentkit[redis]`` extra; imported when built).
"""

from agentkit._redis_store import RedisStore
from agentkit._sessions import InMemoryStore, SessionStore, SQLiteStore

__all__ = ["InMemoryStore", "RedisStore", "SQLiteStore", "SessionStore"]
