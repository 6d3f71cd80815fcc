"""``agentkit serve``: arguments, and (slow) the real engine behind the real command."""

from __future__ import annotations

import argparse
import subprocess
import sys

import httpx
import pytest

from agentkit.cli import build_parser
from agentkit.cli._serve import _model_id
from agentkit.server._overhead import OverheadResult, measure_overhead


def test_serve_arguments_and_defaults() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.model, args.draft, args.speculation, args.host, args.port) == (
        "default",
        "auto",
        "on",
        "127.0.0.1",
        8000,
    )
    assert _model_id(args) == "smollm2-135m-instruct"
    args = build_parser().parse_args(
        [
            "serve",
            "--model",
            "/m/tiny.gguf",
            "--port",
            "0",
            "--api-key",
            "k",
            "--max-queue",
            "3",
            "--speculation",
            "off",
            "--threads",
            "2",
        ]
    )
    assert (_model_id(args), args.port, args.api_key, args.max_queue) == ("tiny", 0, "k", 3)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--speculation", "maybe"])
    assert isinstance(args, argparse.Namespace)


def test_measure_overhead_returns_a_typed_result() -> None:
    result = measure_overhead(samples=5, warmup=1)
    assert isinstance(result, OverheadResult) and result.samples == 5
    assert result.http_p50_ms > 0 and result.inprocess_p50_ms > 0
    assert result.overhead_p50_ms == pytest.approx(result.http_p50_ms - result.inprocess_p50_ms)


@pytest.mark.slow
def test_serve_default_model_end_to_end() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentkit.cli", "serve", "--port", "0", "--threads", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        assert httpx.get(url + "/health").json()["status"] == "ok"
        body = {
            "model": "smollm2-135m-instruct",
            "prompt": "The capital of France is",
            "max_tokens": 4,
            "temperature": 0,
        }
        resp = httpx.post(url + "/v1/completions", json=body, timeout=600).json()
        assert resp["usage"]["completion_tokens"] >= 1 and "speculative" in resp
    finally:
        proc.terminate()
        proc.wait(30)


def test_public_surface_is_pinned() -> None:
    import agentkit.server as server

    assert set(server.__all__) == {
        "APIError",
        "ChatBackend",
        "FIM_INSTRUCTION",
        "FIM_SYSTEM",
        "ModelTextBackend",
        "ServerConfig",
        "ServerState",
        "ServerThread",
        "TextBackend",
        "TextRequest",
        "TokenCounter",
        "bind",
        "create_app",
        "serve",
        "server_state",
    }
    code = "import sys, agentkit.server; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
