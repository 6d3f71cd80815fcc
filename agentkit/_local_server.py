"""`LocalServer`: an `agentkit serve` child process on a free loopback port.

The demo uses it as a stand-in deep tier when no remote endpoint is
configured: a second engine in its own process, so the two tiers do not share
an interpreter lock, with the cores split between them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from types import TracebackType

import httpx

from agentkit._errors import ModelUnavailableError

__all__ = ["LocalServer"]

_READY = re.compile(r"listening on (http://\S+)")


class LocalServer:
    """Starts ``agentkit serve --port 0`` and stops it on exit, whatever happens.

    Args:
        threads: Compute threads for the server's engine.
        extra_args: More ``agentkit serve`` arguments (``--model``, ``--speculation``...).
        start_timeout_s: How long to wait for the model to load.

    Attributes:
        base_url: ``http://127.0.0.1:PORT/v1`` once started.
    """

    def __init__(
        self, *, threads: int = 1, extra_args: Sequence[str] = (), start_timeout_s: float = 120.0
    ) -> None:
        self.threads = threads
        self.extra_args = list(extra_args)
        self.start_timeout_s = start_timeout_s
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> LocalServer:
        cmd = [sys.executable, "-m", "agentkit.cli", "serve", "--port", "0"]
        cmd += ["--threads", str(self.threads), *self.extra_args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        try:
            self.base_url = self._wait_ready() + "/v1"
            self._health_check()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def pid(self) -> int:
        """The server process's id (0 when not running)."""
        return self._proc.pid if self._proc is not None else 0

    def _wait_ready(self) -> str:
        """Read the child's stdout until it announces its address."""
        assert self._proc is not None and self._proc.stdout is not None  # set in __enter__
        deadline = time.monotonic() + self.start_timeout_s
        for line in self._proc.stdout:
            match = _READY.search(line)
            if match:
                return match.group(1)
            if time.monotonic() > deadline:
                break
        raise ModelUnavailableError(
            f"local deep server did not start (exit code {self._proc.poll()})", backend="serve"
        )

    def _health_check(self) -> None:
        root = self.base_url.removesuffix("/v1")
        response = httpx.get(f"{root}/health", timeout=10.0)
        if response.status_code != 200:
            raise ModelUnavailableError(
                f"local deep server unhealthy: HTTP {response.status_code}", backend=root
            )

    def close(self) -> None:
        """Stop the child: terminate, then kill if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
