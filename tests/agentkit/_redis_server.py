"""A throwaway `redis-server` on 127.0.0.1 for the session-store tests.

Started on a free port in a temporary directory with persistence off, killed at
teardown. Where `redis-server` is not installed the tests that need it skip
(`.ci/run` installs it, so CI always runs them).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SKIP_REASON = (
    "redis-server is not installed (apt-get install redis-server); "
    ".ci/run installs it, so CI runs the Redis store's contract tests"
)


def redis_server_path() -> str | None:
    """The `redis-server` executable, or None."""
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], port: int, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout_s} s")


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """Run a private redis-server; yields its URL (``redis://127.0.0.1:PORT/0``)."""
    exe = redis_server_path()
    if exe is None:
        raise RuntimeError(SKIP_REASON)
    port = _free_port()
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    # proto-max-bulk-len at its minimum, so that a test can make one write fail for real.
    args += ["--dir", str(workdir), "--proto-max-bulk-len", "1mb", "--loglevel", "warning"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(proc, port, timeout_s=10.0)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait(timeout=10)
