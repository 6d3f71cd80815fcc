"""The HTTP benchmark's peers: llama.cpp's C++ ``llama-server`` and llama-cpp-python's server.

Each is started on a free loopback port (127.0.0.1), configured as its users
run it for greedy CPU decoding: the given threads for decode and prefill
(``-t``/``-tb``; ``--n_threads``/``--n_threads_batch``), flash attention on,
llama-cpp-python with ``logits_all`` off (its server's default is on). The
sampling settings every request carries for them are `PEER_SAMPLING`
(greedy, repeat penalty off: llama-cpp-python's server defaults to 1.1).
Each peer reports its version and build features (`PeerInfo`).

``llama-server`` is built from llama.cpp's sources by
``scripts/build_llama_server.sh`` (``make llama-server``) into
``~/.cache/agentkit/llama-server/bin``; `find_llama_server` looks there, at
``$AGENTKIT_LLAMA_SERVER`` and on ``PATH``, and the benchmark skips the peer
with a line saying so when it is not there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from engine.bench._peer import PEER_PYTHON_ENV, llamacpp_available, peer_python

__all__ = [
    "LLAMA_SERVER_ENV",
    "PEER_SAMPLING",
    "PeerInfo",
    "find_llama_server",
    "llama_server_args",
    "llamacpp_python_args",
    "peer_skip_reason",
    "start_peer",
]

LLAMA_SERVER_ENV = "AGENTKIT_LLAMA_SERVER"  # a llama-server binary, before the cache and PATH
_CACHE_BIN = Path.home() / ".cache" / "agentkit" / "llama-server" / "bin" / "llama-server"
# Sent with every request to a llama.cpp peer (extra body fields of /v1/completions).
PEER_SAMPLING: dict[str, float | int] = {"top_k": 1, "repeat_penalty": 1.0}
PEERS = ("llama-server", "llama-cpp-python")


@dataclass
class PeerInfo:
    """What a peer is: its command line, version and build features.

    Attributes:
        name: ``llama-server`` or ``llama-cpp-python``.
        command: the argv it was started with (the port varies).
        version: ``llama-server --version`` / ``llama_cpp.__version__``.
        system_info: llama.cpp's ``system_info`` line (CPU features it was built with).
        extra: anything else read from it (e.g. llama-server's ``/props`` build info).
    """

    name: str
    command: list[str] = field(default_factory=list)
    version: str = ""
    system_info: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def find_llama_server() -> Path | None:
    """``$AGENTKIT_LLAMA_SERVER``, else the cache's build, else ``llama-server`` on PATH."""
    env = os.environ.get(LLAMA_SERVER_ENV, "").strip()
    for cand in (Path(env) if env else None, _CACHE_BIN):
        if cand is not None and cand.is_file() and os.access(cand, os.X_OK):
            return cand
    found = shutil.which("llama-server")
    return Path(found) if found else None


def peer_skip_reason(name: str) -> str | None:
    """Why peer ``name`` cannot run here, or None when it can."""
    if name == "llama-server" and find_llama_server() is None:
        return ("llama-server peer skipped: no binary (build it with `make llama-server`, "
                f"or set ${LLAMA_SERVER_ENV})")  # fmt: skip
    if name == "llama-cpp-python" and not llamacpp_available():
        return ("llama-cpp-python peer skipped: not installed (pip install -e '.[bench]', "
                f"or set ${PEER_PYTHON_ENV} to a Python that has it)")  # fmt: skip
    return None


def llama_server_args(binary: str, model: str, port: int, threads: int) -> list[str]:
    """``llama-server``'s command line (see the module doc)."""
    return [
        binary, "-m", model, "--host", "127.0.0.1", "--port", str(port),
        "-t", str(threads), "-tb", str(threads), "-c", "2048", "-np", "1", "-fa", "on",
        "--temp", "0", "--top-k", "1", "--repeat-penalty", "1.0",
    ]  # fmt: skip


def llamacpp_python_args(model: str, port: int, threads: int) -> list[str]:
    """``python -m llama_cpp.server``'s command line (see the module doc; `peer_python`)."""
    return [
        peer_python(), "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
        "--port", str(port), "--n_threads", str(threads), "--n_threads_batch", str(threads),
        "--n_ctx", "2048", "--flash_attn", "true", "--logits_all", "false",
    ]  # fmt: skip


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(proc: subprocess.Popen[bytes], url: str, name: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                return
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        time.sleep(0.3)
    raise RuntimeError(f"{name} did not answer within 180 s")


def _system_info(log: str) -> str:
    """llama.cpp's ``system_info: ...`` text (the build's CPU features) from a log, or ``""``."""
    for line in log.splitlines():
        for key in ("system_info", "system info"):
            if key in line:
                return line[line.index(key) :].strip()
    return ""


def _llama_server_system_info(cmd: list[str]) -> str:
    """The ``system_info`` line a second ``llama-server`` prints at ``-lv 4``, then stopped.

    At its default verbosity llama-server leaves the line out, and a verbose
    server would log every token while it is timed; this one prints it first
    thing (before loading the model) and is killed as soon as it has.
    """
    argv = [*cmd, "-lv", "4"]
    argv[argv.index("--port") + 1] = str(free_port())
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        for line in proc.stdout or ():
            if "system_info" in line or time.monotonic() > deadline:
                return _system_info(line)
        return ""
    finally:
        proc.kill()
        proc.wait()


def _describe(name: str, cmd: list[str], url: str, log: str) -> PeerInfo:
    info = PeerInfo(name, cmd)
    if name == "llama-server":
        out = subprocess.run([cmd[0], "--version"], capture_output=True, text=True, check=False)
        info.version = " ".join((out.stdout + out.stderr).split())
        info.system_info = _system_info(log) or _llama_server_system_info(cmd)
        with contextlib.suppress(httpx.HTTPError, ValueError):
            props = httpx.get(f"{url}/props", timeout=5).json()
            info.extra = {k: props[k] for k in ("build_info",) if k in props}
        with contextlib.suppress(OSError, ValueError):
            info.extra["source"] = json.loads((Path(cmd[0]).parent / "source.json").read_text())
        return info
    code = ("import json, llama_cpp; print(json.dumps([llama_cpp.__version__, "
            "llama_cpp.llama_print_system_info().decode(errors='replace')]))")  # fmt: skip
    out = subprocess.run([peer_python(), "-c", code], capture_output=True, text=True, check=False)
    with contextlib.suppress(ValueError, IndexError):
        info.version, info.system_info = json.loads(out.stdout.strip().splitlines()[-1])
        info.system_info = info.system_info.strip()
    return info


@contextlib.contextmanager
def start_peer(name: str, model: str, threads: int) -> Iterator[tuple[str, PeerInfo]]:
    """Run peer ``name`` on ``model`` until the block ends; yields its ``/v1`` URL and info.

    Raises:
        RuntimeError: it is not available here (`peer_skip_reason`) or did not start.
    """
    reason = peer_skip_reason(name)
    if reason is not None:
        raise RuntimeError(reason)
    port = free_port()
    if name == "llama-server":
        cmd = llama_server_args(str(find_llama_server()), model, port, threads)
    else:
        cmd = llamacpp_python_args(model, port, threads)
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(proc, url, name)
            log.seek(0)
            text = log.read().decode(errors="replace")
            yield f"{url}/v1", _describe(name, cmd, url, text)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
