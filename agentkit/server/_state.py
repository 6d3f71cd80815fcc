"""What the server's handlers share: its configuration and its state.

A module of its own so that the app (`_app`) and the response writer
(`_respond`) both import it, and neither imports the other.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette

from agentkit._model import Model
from agentkit.server._backend import ChatTokenCounter, SlotReporter, TextBackend, TokenCounter
from agentkit.server._generation import Admission
from agentkit.server._metrics import ServerMetrics

__all__ = ["ServerConfig", "ServerState", "server_state"]


class ServerConfig(BaseModel):
    """Settings of one server, validated on construction.

    Attributes:
        model_id: The served model id (``/v1/models``); default: the chat backend's name.
        api_key: When set, ``/v1/*`` requires ``Authorization: Bearer <api_key>``.
            Without one, only loopback ``Host`` headers are served (403 otherwise).
        insecure_no_auth: Serve any ``Host`` without an API key (``--insecure-no-auth``).
        max_queue: Requests in flight at once; the excess gets 429 with ``Retry-After``.
        max_body_bytes: Larger request bodies get 413.
        body_timeout_s: A request body that takes longer to arrive gets 408.
        default_max_tokens: Chat ``max_tokens`` when the request gives none.
        max_tokens_limit: Larger ``max_tokens`` gets 400 (also clamped to the context).
        default_temperature: Temperature when the request gives none (OpenAI's 1.0).
        deadline_grace_s: How long past ``deadline_ms`` the server waits for the
            backend to stop by itself before cutting the generation.
        retry_after_s: The ``Retry-After`` sent with 429 and 503.
        max_n: The most choices (``n``) one request may ask for; more get 400.
            Each choice is a generation of its own (an engine slot while it
            runs), sharing the prompt's prefill; the request holds one place
            of ``max_queue`` whatever its ``n``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_id: str | None = None
    api_key: str | None = Field(default=None, min_length=1)
    insecure_no_auth: bool = False
    max_queue: int = Field(default=64, ge=1)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    body_timeout_s: float = Field(default=30.0, gt=0.0)
    default_max_tokens: int = Field(default=512, ge=1)
    max_tokens_limit: int = Field(default=32_768, ge=1)
    default_temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    deadline_grace_s: float = Field(default=0.05, ge=0.0)
    retry_after_s: int = Field(default=1, ge=0)
    max_n: int = Field(default=8, ge=1)


class ServerState:
    """What the handlers share; reach it with `server_state(app)`.

    Attributes:
        available: False before startup and after shutdown: requests get 503.
    """

    def __init__(self, chat: Model, text: TextBackend, config: ServerConfig) -> None:
        self.config = config
        self.chat = chat
        self.text = text
        self.model_id = config.model_id or chat.name
        # Resolved once: a runtime Protocol check costs ~0.2 ms per request.
        # Both backends serve the one model: either one's counter serves both.
        chat_counter = chat if isinstance(chat, TokenCounter) else None
        text_counter = text if isinstance(text, TokenCounter) else None
        self.chat_counter = chat_counter or text_counter
        self.text_counter = text_counter or chat_counter
        # A chat model that renders its own prompt counts that prompt (the check is exact).
        self.chat_prompt = chat if isinstance(chat, ChatTokenCounter) else None
        slots = [b for b in (text, chat) if isinstance(b, SlotReporter)]
        self.slots: SlotReporter | None = slots[0] if slots else None
        self.metrics = ServerMetrics()
        self.admission = Admission(config.max_queue, self.metrics, config.retry_after_s)
        self.available = False
        self.started = int(time.time())


def server_state(app: Starlette) -> ServerState:
    """The `ServerState` of an app made by `create_app` (for tests and tooling)."""
    state: ServerState = app.state.server
    return state
