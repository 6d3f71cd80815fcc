"""HTTP end to end: ``agentkit serve`` against llama.cpp's own server, same prompts.

Each server runs in its own process on a loopback port, one at a time, with the
same thread count, and is driven by the official ``openai`` client, streaming,
greedy, ``max_tokens`` new tokens a request. Per request: time to the first
content chunk, and end-to-end tokens/s (completion tokens over the whole
request: prefill, decode and HTTP included). Every request starts with its own
tag (``[run 3]``) so neither server's prompt cache can skip the prefill. Both
stop at EOS, so the token counts are reported too. Our server runs twice: plain decoding (the
comparison the engine issue asks for) and with its default speculation.

Run ``agentkit bench http``; llama.cpp's server needs the ``bench`` extra
(``llama-cpp-python[server]``).
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from agentkit._local_server import LocalServer

__all__ = ["HttpBench", "HttpRow", "run_http_bench"]


@dataclass(frozen=True)
class HttpRow:
    """One server on one task (medians over the repeats).

    Attributes:
        server: ``agentkit``, ``agentkit+spec`` or ``llama.cpp``.
        task: the prompt's task name.
        completion_tokens: tokens generated (both servers stop at EOS).
        ttft_ms: time to the first content chunk.
        e2e_tokens_per_s: completion tokens / whole request time.
    """

    server: str
    task: str
    completion_tokens: int
    ttft_ms: float
    e2e_tokens_per_s: float


@dataclass(frozen=True)
class HttpBench:
    """All rows and our plain server's rate over llama.cpp's (Σ tokens / Σ time)."""

    rows: list[HttpRow] = field(default_factory=list)
    ratio_e2e_vs_llamacpp: float | None = None
    ratio_e2e_spec_vs_llamacpp: float | None = None
    threads: int = 0

    def to_json(self) -> dict[str, Any]:
        """Every attribute; rows as dicts."""
        out = asdict(self)
        out["rows"] = [asdict(r) for r in self.rows]
        return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def _llamacpp_server(model_path: str, threads: int) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free loopback port; yields its ``/v1`` URL."""
    port = _free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", model_path, "--host",
           "127.0.0.1", "--port", str(port), "--n_threads", str(threads), "--n_threads_batch",
           str(threads), "--n_ctx", "2048"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited with {proc.returncode}")
            time.sleep(0.3)
        yield f"{url}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


_counter = iter(range(1, 1 << 62))


def _one(
    client: Any, model: str, messages: list[dict[str, str]], max_tokens: int
) -> tuple[int, float, float]:
    """(completion tokens, TTFT s, total s) of one streamed greedy request, prompt uncached."""
    first_message = {**messages[0], "content": f"[run {next(_counter)}] {messages[0]['content']}"}
    messages = [first_message, *messages[1:]]
    t0 = time.perf_counter()
    first, chunks, usage = None, 0, None
    stream = client.chat.completions.create(
        model=model, messages=messages, max_tokens=max_tokens, temperature=0.0, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage.completion_tokens
        if chunk.choices and chunk.choices[0].delta.content:
            chunks += 1
            first = first or time.perf_counter()
    total = time.perf_counter() - t0
    return (usage or chunks), ((first or time.perf_counter()) - t0), total


def _time_server(
    name: str, base_url: str, prompts: dict[str, list[dict[str, str]]], tokens: int, repeats: int
) -> list[HttpRow]:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=300)
    model = client.models.list().data[0].id
    rows = []
    for task, messages in prompts.items():
        _one(client, model, messages, 4)  # warm-up
        runs = [_one(client, model, messages, tokens) for _ in range(repeats)]
        n = int(statistics.median(r[0] for r in runs))
        ttft = statistics.median(r[1] for r in runs)
        total = statistics.median(r[2] for r in runs)
        rows.append(HttpRow(name, task, n, ttft * 1e3, n / total if total else 0.0))
    return rows


def _rate(rows: list[HttpRow], server: str) -> float:
    picked = [r for r in rows if r.server == server]
    seconds = sum(r.completion_tokens / r.e2e_tokens_per_s for r in picked if r.e2e_tokens_per_s)
    return sum(r.completion_tokens for r in picked) / seconds if seconds else 0.0


def run_http_bench(
    *, threads: int = 2, new_tokens: int = 128, repeats: int = 3, with_llamacpp: bool = True
) -> HttpBench:
    """Time our server (plain, then speculative) and llama.cpp's on the decode tasks.

    Raises:
        ModelUnavailableError, RuntimeError: a server did not start.
    """
    import importlib.util

    from engine.bench.tasks import TASK_PROMPTS
    from engine.loader import default_model_path

    rows: list[HttpRow] = []
    for name, args in (("agentkit", ["--speculation", "off"]), ("agentkit+spec", [])):
        with LocalServer(threads=threads, extra_args=args) as server:
            rows += _time_server(name, server.base_url, TASK_PROMPTS, new_tokens, repeats)
    if with_llamacpp and importlib.util.find_spec("llama_cpp.server") is not None:
        with _llamacpp_server(str(default_model_path()), threads) as url:
            rows += _time_server("llama.cpp", url, TASK_PROMPTS, new_tokens, repeats)
    peer = _rate(rows, "llama.cpp")
    return HttpBench(
        rows,
        _rate(rows, "agentkit") / peer if peer else None,
        _rate(rows, "agentkit+spec") / peer if peer else None,
        threads,
    )
