"""``agentkit serve``: arguments, and (slow) the real engine behind the real command."""

from __future__ import annotations

import argparse
import subprocess
import sys

import httpx
import pytest

from agentkit.bench._overhead import OverheadResult, measure_overhead
from agentkit.cli import _serve, build_parser, main
from agentkit.cli._serve import API_KEY_ENV, _limits, _model_id, _server_config


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

    # Exactly, in ruff's order (constants first): adding a public name means adding it here.
    assert server.__all__ == [
        "FIM_INSTRUCTION",
        "FIM_SYSTEM",
        "APIError",
        "ChatBackend",
        "ConnectionLimits",
        "EngineTextBackend",
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
    ]
    code = "import sys, agentkit.server; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_limit_flags_default_to_the_library_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentkit.server import ConnectionLimits, ServerConfig

    monkeypatch.delenv(API_KEY_ENV, raising=False)
    args = build_parser().parse_args(["serve"])
    assert _server_config(args) == ServerConfig(model_id="smollm2-135m-instruct")
    assert _limits(args) == ConnectionLimits()


def test_limit_flags_reach_the_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    args = build_parser().parse_args(
        [
            "serve",
            "--max-body-bytes",
            "2048",
            "--body-timeout",
            "2.5",
            "--keep-alive-timeout",
            "7",
            "--max-connections",
            "9",
            "--shutdown-timeout",
            "4",
            "--insecure-no-auth",
            "--max-n",
            "3",
        ]
    )
    config, limits = _server_config(args), _limits(args)
    assert (config.max_body_bytes, config.body_timeout_s, config.insecure_no_auth) == (
        2048,
        2.5,
        True,
    )
    assert config.max_n == 3
    assert (limits.max_connections, limits.keep_alive_s, limits.shutdown_timeout_s) == (9, 7, 4)


def test_the_api_key_comes_from_the_flag_else_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parse = build_parser().parse_args
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    assert _server_config(parse(["serve"])).api_key == "from-env"
    assert _server_config(parse(["serve", "--api-key", "from-flag"])).api_key == "from-flag"
    monkeypatch.setenv(API_KEY_ENV, "")
    assert _server_config(parse(["serve"])).api_key is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    help_text = capsys.readouterr().out
    assert API_KEY_ENV in help_text and "--insecure-no-auth" in help_text


class _Loaded(Exception):
    """Raised instead of loading the engine: the command got past binding."""


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    loads: list[str] = []

    def load(args: argparse.Namespace) -> None:
        loads.append(args.host)
        raise _Loaded("not in tests")

    monkeypatch.setattr(_serve, "_load_engine", load)
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    return loads


def test_serve_refuses_a_public_address_without_a_key(
    no_engine: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to serve 0.0.0.0 without an API key" in err and "--insecure-no-auth" in err
    assert no_engine == []  # refused before the model is loaded
    for extra in (["--api-key", "k"], ["--insecure-no-auth"]):
        assert main(["serve", "--host", "0.0.0.0", "--port", "0", *extra]) == 2
        assert "cannot load model" in capsys.readouterr().err
    monkeypatch.setenv(API_KEY_ENV, "k")
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert main(["serve", "--host", "127.0.0.1", "--port", "0"]) == 2
    monkeypatch.delenv(API_KEY_ENV)
    assert main(["serve", "--host", "localhost", "--port", "0"]) == 2
    assert no_engine == ["0.0.0.0"] * 3 + ["127.0.0.1", "localhost"]


def test_slots_flag_reaches_the_engine_and_zero_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import engine

    loads: list[dict[str, object]] = []

    def load(path: str, **kwargs: object) -> None:
        loads.append({"path": path, **kwargs})
        raise _Loaded("not in tests")

    monkeypatch.setattr(engine.Engine, "load", load)
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    assert build_parser().parse_args(["serve"]).slots == _serve.DEFAULT_SLOTS == 16
    assert main(["serve", "--port", "0", "--slots", "5", "--threads", "1"]) == 2
    assert loads and loads[-1]["max_slots"] == 5 and loads[-1]["threads"] == 1
    assert main(["serve", "--port", "0", "--slots", "0"]) == 2
    assert "--slots must be >= 1, got 0" in capsys.readouterr().err
    assert len(loads) == 1  # refused before loading
