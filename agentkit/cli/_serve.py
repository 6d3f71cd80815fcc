"""``agentkit serve``: the bundled engine behind an OpenAI-compatible HTTP server.

Prints one line, ``listening on http://HOST:PORT``, once the model is loaded
and the server accepts requests (``--port 0`` picks a free port).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import sys
from pathlib import Path
from typing import Any

from agentkit.cli._common import add_threads_arg

__all__ = ["register"]

DEFAULT_MODEL_ID = "smollm2-135m-instruct"


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="serve the engine over an OpenAI-compatible HTTP API",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument(
        "--model",
        default="default",
        help="'default' (embedded SmolLM2-135M-Instruct) or a .gguf file / HF folder",
    )
    p.add_argument("--model-id", default=None, help="id served in /v1/models (default: derived)")
    p.add_argument(
        "--draft",
        default="auto",
        help="auto (n-gram lookup, plus the shipped distilled draft where it pays for itself) "
        "| ngram | PATH of a draft model (ignored with --speculation off)",
    )
    p.add_argument("--speculation", choices=("on", "off"), default="on")
    add_threads_arg(p)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one")
    p.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' on /v1/*")
    p.add_argument(
        "--max-queue",
        type=int,
        default=64,
        help="requests in flight at once; more get 429 (default: 64)",
    )
    p.add_argument("--log-level", default="warning", help="debug | info | warning | error")
    p.set_defaults(func=_run)


def _model_id(args: argparse.Namespace) -> str:
    if args.model_id:
        return str(args.model_id)
    return DEFAULT_MODEL_ID if args.model == "default" else Path(args.model).stem


def _load_engine(args: argparse.Namespace) -> Any:
    """Load the engine, passing the speculation flags where its loader takes them."""
    from engine import Engine

    accepted = inspect.signature(Engine.load).parameters
    wanted: dict[str, Any] = {"speculation": args.speculation == "on"}
    if args.speculation == "on":  # --speculation off ignores --draft
        wanted["draft"] = args.draft
    defaults: dict[str, Any] = {"speculation": True, "draft": "auto"}
    extra: dict[str, Any] = {}
    for flag, value in wanted.items():
        if flag in accepted:
            extra[flag] = value
        elif value != defaults[flag]:
            print(f"note: this engine does not take --{flag} yet; ignored", file=sys.stderr)
    return Engine.load(args.model, threads=args.threads, **extra)


def _chat_backend(engine: Any, model_id: str) -> Any:
    """The agent loop's engine adapter: chat template, tools through constrained decoding."""
    from agentkit._engine_model import EngineModel

    return EngineModel(engine, name=model_id)


def _run(args: argparse.Namespace) -> int:
    import anyio

    from agentkit.server import ServerConfig, bind, create_app, serve
    from agentkit.server._engine_backend import EngineTextBackend

    try:
        config = ServerConfig(
            model_id=_model_id(args), api_key=args.api_key, max_queue=args.max_queue
        )
        sock = bind(args.host, args.port)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    try:
        engine = _load_engine(args)
    except Exception as exc:  # the engine's typed errors; the message says what to fix
        print(f"error: cannot load model {args.model!r}: {exc}", file=sys.stderr)
        return 2
    model_id = config.model_id or DEFAULT_MODEL_ID
    chat = _chat_backend(engine, model_id)
    text = EngineTextBackend(engine, model_id)
    shown = f"[{host}]" if ":" in host else host

    def ready() -> None:
        print(f"listening on http://{shown}:{port}", flush=True)

    app = create_app(chat, text=text, config=config, on_ready=ready)
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(lambda: serve(app, sock, log_level=args.log_level))
    return 0
