"""An OpenAI-compatible HTTP server over any agentkit `Model` (``agentkit serve``).

Endpoints: ``POST /v1/chat/completions``, ``POST /v1/completions``,
``GET /v1/models``, ``GET /health``, ``GET /metrics``. Every completion carries
the ``speculative`` extension object; ``deadline_ms`` is the request-side
extension. See ``docs/server.md``.
"""

from agentkit.server._app import create_app
from agentkit.server._backend import (
    FIM_INSTRUCTION,
    FIM_SYSTEM,
    ChatBackend,
    ModelTextBackend,
    TextBackend,
    TextRequest,
    TokenCounter,
)
from agentkit.server._engine_backend import EngineTextBackend
from agentkit.server._errors import APIError
from agentkit.server._run import ConnectionLimits, ServerThread, bind, serve
from agentkit.server._state import ServerConfig, ServerState, server_state

__all__ = [
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
