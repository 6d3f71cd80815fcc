"""The Starlette application: routes, auth, body limits, admission and errors."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentkit._model import Model, ModelEvent, SamplingSettings
from agentkit.server._backend import (
    ModelTextBackend,
    TextBackend,
    TextRequest,
)
from agentkit.server._choices import choice_settings, run_once
from agentkit.server._errors import APIError, error_from_exception
from agentkit.server._fit import (
    chat_size,
    check_max_tokens,
    events_after,
    fit_max_tokens,
    text_size,
)
from agentkit.server._guard import HostGuard, authorize, read_json_body
from agentkit.server._metrics import RequestCounter
from agentkit.server._respond import respond
from agentkit.server._schemas import ChatCompletionRequest, CompletionRequest
from agentkit.server._state import ServerConfig, ServerState
from agentkit.server._textstop import TextGuard
from agentkit.server._wire import (
    ChatFormat,
    CompletionFormat,
    Exchange,
    sampling_settings,
    to_messages,
    to_tools,
)

__all__ = ["create_app"]

_Req = TypeVar("_Req", bound=BaseModel)


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


def _authorize(request: Request, state: ServerState) -> None:
    authorize(request, state.config.api_key)


async def _read_body(request: Request, state: ServerState) -> bytes:
    config = state.config
    return await read_json_body(request, config.max_body_bytes, config.body_timeout_s)


def _parse(model: type[_Req], body: bytes) -> _Req:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(p) for p in err["loc"]) or None
        if err["type"] == "json_invalid":
            raise APIError(400, "We could not parse the JSON body of your request.") from exc
        if err["type"] == "model_type":
            raise APIError(400, "the request body must be a JSON object") from exc
        if err["type"] == "extra_forbidden":
            msg = f"Unrecognized request argument supplied: {param}"
            raise APIError(400, msg, param=param) from exc
        raise APIError(400, f"{param}: {err['msg']}", param=param) from exc


def _check_common(state: ServerState, req: ChatCompletionRequest | CompletionRequest) -> None:
    if req.model != state.model_id:
        msg = f"The model `{req.model}` does not exist (this server serves `{state.model_id}`)."
        raise APIError(404, msg, param="model", code="model_not_found")
    if req.n is not None and req.n > state.config.max_n:
        msg = f"n must be at most {state.config.max_n} on this server, got {req.n}"
        raise APIError(400, msg, param="n")
    if not state.available:
        raise APIError(503, "server is not ready", headers={"Retry-After": "1"})


def _settings(
    state: ServerState, req: ChatCompletionRequest | CompletionRequest, requested: int | None
) -> SamplingSettings:
    """Validated settings (400s before admission); ``max_tokens`` is fitted once admitted."""
    config = state.config
    check_max_tokens(requested, config.max_tokens_limit)
    wanted = requested or config.default_max_tokens
    return sampling_settings(req, wanted, config.default_temperature)


async def _chat(request: Request) -> Response:
    state, received = _state(request), time.monotonic()
    _authorize(request, state)
    req = _parse(ChatCompletionRequest, await _read_body(request, state))
    _check_common(state, req)
    messages, tools = to_messages(req.messages), to_tools(req)
    requested = req.max_completion_tokens or req.max_tokens
    settings = _settings(state, req, requested)
    deadline = None if req.deadline_ms is None else received + req.deadline_ms / 1000.0

    @run_once  # the choices share one length check
    async def fit() -> SamplingSettings:  # once admitted: counting may be heavy
        config = state.config
        size = await chat_size(
            state.chat_prompt, state.chat_counter, messages, tools, config.retry_after_s
        )
        max_tokens = fit_max_tokens(size, requested, config.default_max_tokens)
        return settings.model_copy(update={"max_tokens": max_tokens})

    def open_choice(i: int) -> AsyncIterator[ModelEvent]:
        return events_after(
            fit,
            lambda s: state.chat.stream(
                messages, tools=tools, settings=choice_settings(s, i), deadline=deadline
            ),
        )

    include_usage = bool(req.stream_options and req.stream_options.include_usage)
    logprobs = settings.top_logprobs is not None
    fmt = ChatFormat(Exchange(state.model_id, "chatcmpl"), include_usage, logprobs)
    return await respond(
        state,
        open_choice,
        request.receive,
        lambda: TextGuard(stops=settings.stop),
        fmt,
        n=req.n or 1,
        stream=req.stream,
        deadline=deadline,
        received=received,
        endpoint="chat",
    )


async def _completions(request: Request) -> Response:
    state, received = _state(request), time.monotonic()
    _authorize(request, state)
    req = _parse(CompletionRequest, await _read_body(request, state))
    _check_common(state, req)
    if req.best_of is not None and req.best_of > 1:
        raise APIError(400, "best_of > 1 is not supported", param="best_of")
    prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
    if len(prompts) != 1:
        raise APIError(400, "send exactly one prompt per request", param="prompt")
    prompt = prompts[0]
    settings = _settings(state, req, req.max_tokens)
    deadline = None if req.deadline_ms is None else received + req.deadline_ms / 1000.0

    @run_once  # the choices share one length check
    async def fit() -> SamplingSettings:  # once admitted: counting may be heavy
        size = await text_size(state.text_counter, prompt + (req.suffix or ""))
        max_tokens = fit_max_tokens(size, req.max_tokens, state.config.default_max_tokens)
        return settings.model_copy(update={"max_tokens": max_tokens})

    def open_choice(i: int) -> AsyncIterator[ModelEvent]:
        return events_after(
            fit,
            lambda s: state.text.stream_text(
                TextRequest(prompt, req.suffix, choice_settings(s, i), deadline)
            ),
        )

    include_usage = bool(req.stream_options and req.stream_options.include_usage)
    echo = prompt if req.echo else ""
    logprobs = settings.top_logprobs is not None
    fmt = CompletionFormat(Exchange(state.model_id, "cmpl"), include_usage, echo, logprobs)
    suffix = None if state.text.native_fim else req.suffix
    return await respond(
        state,
        open_choice,
        request.receive,
        lambda: TextGuard(stops=settings.stop, suffix=suffix),
        fmt,
        n=req.n or 1,
        stream=req.stream,
        deadline=deadline,
        received=received,
        endpoint="completions",
    )


async def _models(request: Request) -> Response:
    state = _state(request)
    _authorize(request, state)
    card = {
        "id": state.model_id,
        "object": "model",
        "created": state.started,
        "owned_by": "agentkit",
    }
    wanted = request.path_params.get("model_id")
    if wanted is None:
        return JSONResponse({"object": "list", "data": [card]})
    if wanted != state.model_id:
        raise APIError(
            404, f"The model `{wanted}` does not exist", param="model", code="model_not_found"
        )
    return JSONResponse(card)


async def _health(request: Request) -> Response:
    state = _state(request)
    body: dict[str, object] = {
        "status": "ok" if state.available else "unavailable",
        "model": state.model_id,
        "in_flight": state.admission.in_flight,
    }
    usage = state.slots.slot_usage() if state.slots is not None else None
    body["slots_in_use"] = usage.in_use if usage is not None else None
    body["slots_total"] = usage.total if usage is not None else None
    return JSONResponse(body, status_code=200 if state.available else 503)


async def _metrics(request: Request) -> Response:
    return Response(_state(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def _on_api_error(request: Request, exc: Exception) -> Response:
    # e.g. a chat template that rejects the conversation while the prompt is counted: 400
    err = error_from_exception(exc, retry_after_s=_state(request).config.retry_after_s)
    return err.response()  # counted by RequestCounter, once


async def _on_http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    code = "unknown_route" if status == 404 else None
    return APIError(status, f"{detail}: {request.method} {request.url.path}", code=code).response()


def create_app(
    chat: Model,
    *,
    text: TextBackend | None = None,
    config: ServerConfig | None = None,
    on_ready: Callable[[], None] | None = None,
) -> Starlette:
    """Build the OpenAI-compatible app over a chat `Model` (and a text backend).

    Args:
        chat: Serves ``/v1/chat/completions``.
        text: Serves ``/v1/completions``; default: `ModelTextBackend` over ``chat``.
        config: Server settings; defaults otherwise.
        on_ready: Called once startup is complete (the CLI prints its line there).

    Returns:
        A Starlette app; run it under uvicorn (its lifespan must run: until then,
        requests get 503).
    """
    state = ServerState(chat, text or ModelTextBackend(chat), config or ServerConfig())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.available = True
        if on_ready is not None:
            on_ready()
        yield
        state.available = False

    routes = [
        Route("/v1/chat/completions", _chat, methods=["POST"]),
        Route("/v1/completions", _completions, methods=["POST"]),
        Route("/v1/models", _models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", _models, methods=["GET"]),
        Route("/health", _health, methods=["GET"]),
        Route("/metrics", _metrics, methods=["GET"]),
    ]
    handlers = {APIError: _on_api_error, HTTPException: _on_http_error, Exception: _on_api_error}
    check_host = state.config.api_key is None and not state.config.insecure_no_auth
    middleware = [
        Middleware(RequestCounter, metrics=state.metrics),
        Middleware(HostGuard, enabled=check_host),
    ]
    app = Starlette(
        routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=lifespan
    )
    app.state.server = state
    return app
