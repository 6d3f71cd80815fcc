"""What only the Redis store promises: TTLs, caps, the server-side deadline, the extra.

The shared contract runs in test_session_contract.py; these run on the same
private `redis-server` (skipped with a clear reason where it is not installed).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit import Message
from agentkit.errors import ConfigError
from tests.agentkit._redis_server import SKIP_REASON, redis_server, redis_server_path


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if redis_server_path() is None:
        pytest.skip(SKIP_REASON)
    pytest.importorskip("redis", reason="the redis extra is not installed")
    with redis_server(tmp_path_factory.mktemp("redis")) as found:
        yield found


@pytest.fixture
def raw(url: str) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(url)
    yield client
    client.close()


def _store(url: str, **options: Any) -> Any:
    from agentkit.sessions import RedisStore

    return RedisStore(url, prefix=f"t{uuid.uuid4().hex[:12]}:", **options)


TURN = [Message.user("q"), Message.assistant("a")]


def test_every_turn_renews_the_sessions_ttl(url: str, raw: Any) -> None:
    store = _store(url, ttl_s=60)
    anyio.run(lambda: store.append("s", TURN))
    raw.pexpire(store.key("s"), 5_000)  # as if the session had aged
    anyio.run(lambda: store.append("s", TURN))
    assert 55_000 < raw.pttl(store.key("s")) <= 60_000
    forever = _store(url, ttl_s=None)
    anyio.run(lambda: forever.append("s", TURN))
    assert raw.pttl(forever.key("s")) == -1  # no expiry


def test_an_expired_session_loads_empty(url: str) -> None:
    store = _store(url, ttl_s=0.1)
    anyio.run(lambda: store.append("s", TURN))
    time.sleep(0.25)
    assert anyio.run(lambda: store.load("s", max_chars=100)) == []
    assert store.count("s") == 0


def test_max_messages_keeps_the_newest(url: str) -> None:
    store = _store(url, max_messages=3)

    async def main() -> list[Message]:
        for i in range(3):
            await store.append("s", [Message.user(f"q{i}"), Message.assistant(f"a{i}")])
        return await store.load("s", max_chars=100)

    # The cap cut into the second turn; the history still starts at a user message.
    assert [m.content for m in anyio.run(main)] == ["q2", "a2"]
    assert store.count("s") == 3


def test_a_turn_reaching_redis_after_its_deadline_is_dropped_there(url: str, raw: Any) -> None:
    """Writes paused 50 ms, deadline 10 ms: the script runs late, and writes nothing.

    The client still waits for the reply (its grace is 100 ms), so the script
    really runs, after the deadline; the server's check is what drops it.
    """
    store = _store(url)

    async def main() -> None:
        with anyio.fail_after(5.0):  # connect and read the server's clock first
            await store.append("warm", TURN)
        raw.execute_command("CLIENT", "PAUSE", 50, "WRITE")
        with anyio.move_on_after(0.01), pytest.raises(TimeoutError, match="after its deadline"):
            await store.append("s", TURN)

    anyio.run(main)
    time.sleep(0.1)  # the pause is over: anything queued has run
    assert store.count("s") == 0


def test_the_deadline_is_read_on_the_servers_clock(url: str) -> None:
    """Believing the server's clock 10 s behind ours, a turn with 1 s left is late there."""
    store = _store(url)

    async def main() -> None:
        with anyio.fail_after(5.0):  # a write with a deadline reads the server's clock
            await store.append("warm", TURN)
        measured = store._offset_ms
        store._offset_ms = measured - 10_000.0  # the deadline sent: 9 s ago, server time
        with anyio.fail_after(1.0), pytest.raises(TimeoutError, match="after its deadline"):
            await store.append("s", TURN)
        store._offset_ms = measured
        with anyio.fail_after(1.0):
            await store.append("s", TURN)

    anyio.run(main)
    assert store.count("s") == 2


def test_an_entry_of_another_writer_is_skipped(url: str, raw: Any) -> None:
    store = _store(url)
    anyio.run(lambda: store.append("s", TURN))
    raw.rpush(store.key("s"), b"12:{}", b"no prefix at all")
    assert anyio.run(lambda: store.load("s", max_chars=100)) == TURN


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"ttl_s": 0}, "ttl_s"),
        ({"ttl_s": float("inf")}, "ttl_s"),
        ({"max_rows": 0}, "max_rows"),
        ({"max_messages": 0}, "max_rows"),
        ({"socket_timeout_s": float("nan")}, "socket_timeout_s"),
    ],
)
def test_bad_limits_are_config_errors(options: dict[str, Any], field: str) -> None:
    pytest.importorskip("redis")
    from agentkit.sessions import RedisStore

    with pytest.raises(ConfigError) as info:
        RedisStore(**options)
    assert info.value.field == field


def test_without_the_extra_import_works_and_building_one_names_it(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['redis'] = None\n"  # as if not installed
        "import agentkit, agentkit.sessions\n"
        "loaded = [m for m in ('torch', 'mcp', 'redis') if sys.modules.get(m) is not None]\n"
        "assert not loaded, loaded\n"
        "try:\n"
        "    agentkit.sessions.RedisStore()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "pip install 'agentkit[redis]'" in out.stdout
