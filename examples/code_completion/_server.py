"""The completion server: our OpenAI-compatible app on loopback, over the embedded engine."""

from __future__ import annotations

from typing import Any

from agentkit import Model
from agentkit.server import ServerConfig, ServerThread, TextBackend, create_app

__all__ = ["completion_app", "start_server"]


def _text_backend(engine: Any, name: str) -> TextBackend:
    """The engine's own text backend (raw continuation), else continuation through chat."""
    try:
        from agentkit.server import EngineTextBackend

        return EngineTextBackend(engine, name)
    except ImportError:  # an older server package: FIM through the chat template
        from agentkit import EngineModel
        from agentkit.server import ModelTextBackend

        return ModelTextBackend(EngineModel(engine, name=name))


def completion_app(
    engine: Any = None,
    *,
    model: Model | None = None,
    text: TextBackend | None = None,
    max_queue: int = 8,
) -> Any:
    """The app serving ``/v1/completions`` (prefix + ``suffix``, ``deadline_ms``).

    Args:
        engine: A loaded `engine.Engine` (the usual case).
        model: Instead of an engine: any `Model` (test doubles), served through
            the server's FIM instruction template.
        text: An explicit text backend (overrides both).
        max_queue: Requests in flight at once; stale ones are cancelled by the
            client, so a small queue is plenty for one editor.

    Returns:
        A Starlette app (run it with `start_server`).
    """
    name = "smollm2-135m"
    if text is None and engine is not None:
        text = _text_backend(engine, name)
    if model is None:
        from agentkit import EngineModel

        model = EngineModel(engine, name=name)
    # temperature 0 unless asked: a completion plugin wants the single best guess
    config = ServerConfig(model_id=name, max_queue=max_queue, default_temperature=0.0)
    return create_app(model, text=text, config=config)


def start_server(app: Any) -> ServerThread:
    """Serve ``app`` on a free loopback port in a background thread (stop() when done)."""
    return ServerThread(app).start()
