"""llm-katan, an independent fault-injecting OpenAI-compatible server, on 127.0.0.1.

llm-katan (PyPI) serves the OpenAI API from an echo backend (no model, no
torch) and injects errors (``--error-rate``), latency (``--latency-ms``,
``--ttft-ms``) and rate limits (``--rate-limit-after``). It lives in its own
virtual environment, ``.venv/katan`` (``make katan``, which ``make test``
runs), not in ``.venv``: its wheel ships a top-level ``tests`` package that
would shadow this repository's, and it pulls ``uvicorn[standard]`` (uvloop,
httptools), which would change how our own servers run in the tests.
``$AGENTKIT_LLM_KATAN`` may name another ``llm-katan`` executable. Without
one, the tests that need it skip with `SKIP_REASON`.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import httpx

SKIP_REASON = (
    "llm-katan is not installed: `make katan` puts it in .venv/katan (its own venv, "
    "since its wheel ships a top-level 'tests' package), or set $AGENTKIT_LLM_KATAN"
)


def katan_path() -> Path | None:
    """The `llm-katan` executable, or None."""
    named = os.environ.get("AGENTKIT_LLM_KATAN")
    candidate = Path(named) if named else Path(sys.prefix) / "katan" / "bin" / "llm-katan"
    return candidate if candidate.is_file() else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Katan:
    """A running llm-katan: where it listens and how many requests it has had."""

    model: str
    base_url: str

    def requests(self) -> int:
        """Requests received so far, failed ones included (its Prometheus counter)."""
        text = httpx.get(self.base_url.removesuffix("/v1") + "/metrics", timeout=5).text
        found = re.search(r"^llm_katan_lifetime_requests_total (\d+)", text, re.M)
        return int(found.group(1)) if found else 0


def _wait_ready(proc: subprocess.Popen[bytes], url: str, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"llm-katan exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"llm-katan did not answer at {url} within {timeout_s} s")


def _start(path: Path, model: str, port: int, tmp: Path, flags: tuple[str, ...]) -> Popen[bytes]:
    # Its request counter persists to a file (default: in $HOME): one per instance.
    stats = tmp / f"{model}-stats.json"
    command = [str(path), "-m", model, "--backend", "echo", "-h", "127.0.0.1", "-p", str(port)]
    command += ["--providers", "openai", "--log-level", "error", "--stats-file", str(stats)]
    return subprocess.Popen(
        [*command, *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@contextmanager
def run_katans(
    tmp: Path, specs: dict[str, tuple[str, ...]], timeout_s: float = 60.0
) -> Iterator[dict[str, Katan]]:
    """Run one llm-katan per ``specs`` entry (model name: fault flags) for the block.

    All start at once (each takes a second or two to import its web stack).
    """
    path = katan_path()
    if path is None:
        raise RuntimeError(SKIP_REASON)
    procs: list[Popen[bytes]] = []
    running: dict[str, Katan] = {}
    try:
        for model, flags in specs.items():
            port = _free_port()
            procs.append(_start(path, model, port, tmp, flags))
            running[model] = Katan(model, f"http://127.0.0.1:{port}/v1")
        for proc, katan in zip(procs, running.values(), strict=True):
            _wait_ready(proc, katan.base_url.removesuffix("/v1"), timeout_s)
        yield running
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
