"""``agentkit serve``: the bundled engine behind an OpenAI-compatible HTTP server.

Prints one line, ``listening on http://HOST:PORT``, once the model is loaded
and the server accepts requests (``--port 0`` picks a free port).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentkit.cli._common import add_threads_arg

if TYPE_CHECKING:
    from agentkit.server import ConnectionLimits, ServerConfig

__all__ = ["register"]

DEFAULT_MODEL_ID = "smollm2-135m-instruct"
API_KEY_ENV = "AGENTKIT_API_KEY"
# 16 streams decode together: on 2 cores 16 rows cost ~4 one-row steps
# (docs/measurements/row-cost.md), so aggregate throughput keeps rising up to
# here. The KV cache is allocated empty (about 94 MB a slot at 4,096 fp16
# positions of the default model), and a slot's memory is touched only as its
# context grows (docs/server.md).
DEFAULT_SLOTS = 16

_EPILOG = f"""\
The API key is read from --api-key, else from ${API_KEY_ENV} (the flag wins;
prefer the variable: command-line arguments are visible to every user in ps).
Without a key the server answers only to loopback Host headers (localhost,
127.0.0.1, [::1]) and refuses to bind a non-loopback --host unless
--insecure-no-auth is given. Defaults and reasons: docs/server.md."""


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="serve the engine over an OpenAI-compatible HTTP API",
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    p.add_argument(
        "--slots",
        type=int,
        default=DEFAULT_SLOTS,
        help="requests decoded together (KV-cache slots; more wait in the queue; "
        f"default: {DEFAULT_SLOTS})",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one")
    p.add_argument(
        "--api-key",
        default=None,
        help=f"require 'Authorization: Bearer KEY' on /v1/* (default: ${API_KEY_ENV})",
    )
    p.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="without a key, still bind a non-loopback --host and answer any Host header",
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=64,
        help="requests in flight at once; more get 429 (default: 64)",
    )
    _add_limit_args(p)
    p.add_argument("--log-level", default="warning", help="debug | info | warning | error")
    p.set_defaults(func=_run)


def _add_limit_args(p: argparse.ArgumentParser) -> None:
    """Flags of `ServerConfig` and `ConnectionLimits` (same defaults, pinned by a test)."""
    p.add_argument(
        "--max-n",
        type=int,
        default=8,
        help="choices (n) one request may ask for at most; more get 400 (default: 8)",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=1_000_000,
        help="larger request bodies get 413, before they are read (default: 1000000)",
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="a request body must arrive within S seconds, else 408 (default: 30)",
    )
    p.add_argument(
        "--keep-alive-timeout",
        type=int,
        default=5,
        metavar="S",
        help="a connection must send a whole request head within S seconds of opening "
        "or of its previous response, else it is closed (default: 5)",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=512,
        help="open connections plus requests served; more get 503 (default: 512)",
    )
    p.add_argument(
        "--shutdown-timeout",
        type=int,
        default=20,
        metavar="S",
        help="on SIGINT/SIGTERM, requests in flight get S seconds to finish (default: 20)",
    )


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
    return Engine.load(args.model, threads=args.threads, max_slots=args.slots, **extra)


def _chat_backend(engine: Any, model_id: str) -> Any:
    """The agent loop's engine adapter: chat template, tools through constrained decoding."""
    from agentkit._engine_model import EngineModel

    return EngineModel(engine, name=model_id)


def _api_key(args: argparse.Namespace) -> str | None:
    """``--api-key``, else ``$AGENTKIT_API_KEY`` (unset or empty: no key)."""
    if args.api_key is not None:
        return str(args.api_key)
    return os.environ.get(API_KEY_ENV) or None


def _server_config(args: argparse.Namespace) -> ServerConfig:
    """The app's settings from the flags (ValueError on bad values)."""
    from agentkit.server import ServerConfig

    if args.slots < 1:
        raise ValueError(f"--slots must be >= 1, got {args.slots}")
    return ServerConfig(
        model_id=_model_id(args),
        api_key=_api_key(args),
        insecure_no_auth=args.insecure_no_auth,
        max_queue=args.max_queue,
        max_body_bytes=args.max_body_bytes,
        body_timeout_s=args.body_timeout,
        max_n=args.max_n,
    )


def _limits(args: argparse.Namespace) -> ConnectionLimits:
    """uvicorn's connection limits from the flags (ConfigError on bad values)."""
    from agentkit.server import ConnectionLimits

    return ConnectionLimits(
        max_connections=args.max_connections,
        keep_alive_s=args.keep_alive_timeout,
        shutdown_timeout_s=args.shutdown_timeout,
    )


def _bind(args: argparse.Namespace, config: ServerConfig) -> socket.socket:
    """The listening socket; a non-loopback one needs a key or ``--insecure-no-auth``."""
    from agentkit._errors import UserError
    from agentkit.server import bind
    from agentkit.server._run import is_loopback_address

    sock = bind(args.host, args.port)
    keyless = config.api_key is None and not config.insecure_no_auth
    if keyless and not is_loopback_address(sock.getsockname()[0]):
        sock.close()
        raise UserError(
            f"refusing to serve {args.host} without an API key: set ${API_KEY_ENV} "
            "(or --api-key), or pass --insecure-no-auth to serve it to anyone"
        )
    return sock


def _run(args: argparse.Namespace) -> int:
    import anyio

    from agentkit._errors import AgentkitError
    from agentkit.server import create_app, serve
    from agentkit.server._engine_backend import EngineTextBackend

    try:
        config, limits = _server_config(args), _limits(args)
        sock = _bind(args, config)
    except (ValueError, OSError, AgentkitError) as exc:
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
        anyio.run(lambda: serve(app, sock, log_level=args.log_level, limits=limits))
    return 0
