"""`OpenAIModel`: any OpenAI-compatible chat-completions endpoint, as a `Model`.

Resilience lives here, per endpoint: tenacity retries (exponential backoff
with full jitter, at least the server's ``Retry-After``) on 429, 5xx and
connection errors — never past the caller's deadline; a `CircuitBreaker`
that refuses calls to a failing endpoint for a cool-down; and separate
timeouts for connecting, the first token and the whole call. The remaining
time travels in the request body as ``deadline_ms``. Every call the breaker
lets through settles it exactly once (success, failure or release; see
`agentkit._breaker`), however the call ends: a caller's cancellation or
deadline is never a backend failure.

A stream that breaks after text went out raises `BackendError`; the agent
loop then finishes the answer on the other tier, continuing the text
already shown instead of repeating it.
"""

from __future__ import annotations

import asyncio
import os
import random
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from typing import Any

import anyio
import httpx
import tenacity

from agentkit._breaker import CircuitBreaker
from agentkit._budget import Deadline
from agentkit._errors import (
    BackendError,
    ConfigError,
    ModelHTTPError,
    ModelProtocolError,
    ModelUnavailableError,
)
from agentkit._messages import Message, ToolSchema
from agentkit._model import (
    FinishEvent,
    FinishReason,
    ModelEvent,
    ModelResponse,
    SamplingSettings,
    StreamStatsEvent,
    ToolCallEvent,
    UsageEvent,
)
from agentkit._openai_io import (
    MAX_BODY_BYTES,
    StreamOpen,
    attempt_error,
    close,
    read_body,
    read_head,
)
from agentkit._openai_settings import RetryPolicy, Timeouts
from agentkit._openai_wire import (
    SSEState,
    ToolCallAccumulator,
    build_body,
    encode_body,
    parse_completion,
    parse_json,
    parse_retry_after,
    response_events,
)

__all__ = ["OpenAIModel", "RetryPolicy", "Timeouts"]

_ERROR_BODY_BYTES = 64 << 10  # of an error page: its start says what went wrong
_JSON = {"content-type": "application/json"}


def _setting(value: str | None, env: str, required: bool) -> str | None:
    value = value or os.environ.get(env) or None
    if value is None and required:
        raise ConfigError(env, "not given as an argument nor set in the environment")
    return value


class OpenAIModel:
    """A chat-completions endpoint (OpenAI, vLLM, llama.cpp, Ollama, `agentkit serve`).

    Args:
        model: Model name; default ``$AGENTKIT_DEEP_MODEL``.
        base_url: Endpoint root including ``/v1``; default ``$AGENTKIT_DEEP_BASE_URL``.
        api_key: Bearer token; default ``$AGENTKIT_DEEP_API_KEY`` (optional).
        timeouts: Connect, first-token and whole-call limits.
        retry: Retry policy.
        breaker: Circuit breaker (a fresh one per model by default).
        headers: Extra request headers.
        max_connections: Connection-pool size.
        transport: An httpx transport to send through (tests: ``httpx.MockTransport``).

    Raises:
        ConfigError: No base URL or model name.
    """

    provider = "openai"
    """The protocol spoken, as traces name it (OpenTelemetry's ``gen_ai.provider.name``)."""

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        headers: dict[str, str] | None = None,
        max_connections: int = 64,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = _setting(model, "AGENTKIT_DEEP_MODEL", True) or ""
        self.base_url = (_setting(base_url, "AGENTKIT_DEEP_BASE_URL", True) or "").rstrip("/")
        key = _setting(api_key, "AGENTKIT_DEEP_API_KEY", False)
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._headers.update(headers or {})
        self._max_connections = max_connections
        self._transport = transport
        # Building an SSL context loads the CA bundle (~200 ms): once, here, not in a turn.
        https = self.base_url.startswith("https:")
        self._verify = (
            httpx.create_ssl_context() if https else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        )
        self._clients: dict[int, httpx.AsyncClient] = {}

    @property
    def name(self) -> str:
        """The model name."""
        return self.model

    def _client(self) -> httpx.AsyncClient:
        """One pooled client per event loop (pooled connections cannot cross loops)."""
        try:
            key = id(asyncio.get_running_loop())
        except RuntimeError:  # trio: one loop per process run
            key = 0
        client = self._clients.get(key)
        if client is None or client.is_closed:
            timeout = httpx.Timeout(
                connect=self.timeouts.connect_s, read=None, write=10.0, pool=self.timeouts.connect_s
            )
            limits = httpx.Limits(max_connections=self._max_connections)
            client = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=timeout,
                limits=limits,
                headers=self._headers,
                verify=self._verify,
                transport=self._transport,
            )
            self._clients = {key: client}  # a client of a finished loop is dropped
        return client

    async def aclose(self) -> None:
        """Close pooled connections of the current loop."""
        for client in self._clients.values():
            with suppress(RuntimeError):
                await client.aclose()
        self._clients = {}

    def _end(self, deadline: float | None) -> float:
        end = time.monotonic() + self.timeouts.total_s
        return end if deadline is None else min(end, deadline)

    def _retrying(self, end: float) -> tenacity.AsyncRetrying:
        policy = self.retry

        def wait(state: tenacity.RetryCallState) -> float:
            backoff = min(policy.max_s, policy.base_s * 2 ** (state.attempt_number - 1))
            delay = random.uniform(0.0, backoff)  # full jitter spreads synchronized clients
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, ModelHTTPError) and exc.retry_after_s is not None:
                delay = max(delay, exc.retry_after_s)
            return delay

        def stop(state: tenacity.RetryCallState) -> bool:
            late = time.monotonic() + state.upcoming_sleep >= end
            return late or state.attempt_number >= policy.max_attempts

        def retryable(exc: BaseException) -> bool:
            return isinstance(exc, BackendError) and exc.retryable

        return tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(retryable),
            wait=wait,
            stop=stop,
            sleep=anyio.sleep,
            reraise=True,
        )

    async def _attempt(self, body: dict[str, Any], end: float) -> StreamOpen:
        """One request: status and content type checked, the body not yet read."""
        call = self.breaker.acquire()
        if call is None:
            raise ModelUnavailableError("circuit breaker open", backend=self.base_url)
        body["deadline_ms"] = max(0, int((end - time.monotonic()) * 1000))
        client = self._client()
        response: httpx.Response | None = None
        try:
            with anyio.fail_after(self.timeouts.first_token_s):
                request = client.build_request(
                    "POST", "/chat/completions", content=encode_body(body), headers=_JSON
                )
                response = await client.send(request, stream=True)
                await self._check_status(response)
                return StreamOpen(response, call, self.base_url)
        except BaseException as exc:
            if response is not None:
                with anyio.CancelScope(shield=True):
                    await response.aclose()
            mapped = attempt_error(call, exc, self.base_url)
            if mapped is exc:
                raise
            raise mapped from exc

    async def _check_status(self, response: httpx.Response) -> None:
        html = "html" in response.headers.get("content-type", "")
        if response.status_code < 400 and not html:
            return
        head = await read_head(response, _ERROR_BODY_BYTES)
        await response.aclose()
        text = head.decode("utf-8", "replace")
        if response.status_code >= 400:
            raise ModelHTTPError(
                response.status_code,
                text,
                backend=self.base_url,
                retry_after_s=parse_retry_after(response.headers.get("retry-after")),
            )
        raise ModelProtocolError(
            f"HTML page instead of JSON: {text[:120]!r}", backend=self.base_url
        )

    async def _open(self, body: dict[str, Any], end: float) -> StreamOpen | None:
        """Open the request with retries; None when the deadline passes first."""
        opened: StreamOpen | None = None
        with Deadline.scope(end):
            async for attempt in self._retrying(end):
                with attempt:
                    opened = await self._attempt(body, end)
        return opened

    async def _read(self, opened: StreamOpen, end: float) -> ModelResponse:
        """Read and parse a whole JSON body within the deadline; settles the breaker."""
        with Deadline.scope(end):
            try:
                data = await read_body(opened.response, MAX_BODY_BYTES, self.base_url)
                response = parse_completion(
                    parse_json(data, self.base_url), self.base_url, self.model
                )
            except httpx.TransportError as exc:
                opened.call.failure()
                raise ModelUnavailableError(f"body broken: {exc}", backend=self.base_url) from exc
            except ModelProtocolError:
                opened.call.failure()
                raise
            opened.call.success()
            return response
        opened.call.release()  # the caller's deadline came first
        return ModelResponse(
            message=Message.assistant(""), finish_reason="deadline", model=self.model
        )

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> ModelResponse:
        """One assistant message; ``finish_reason="deadline"`` (empty) if time runs out.

        Raises:
            BackendError: After retries: HTTP errors, malformed responses, an
                unreachable endpoint or an open circuit breaker.
        """
        end = self._end(deadline)
        body = build_body(self.model, messages, tools, settings or SamplingSettings(), stream=False)
        opened = await self._open(body, end)
        if opened is None:
            return ModelResponse(
                message=Message.assistant(""), finish_reason="deadline", model=self.model
            )
        try:
            return await self._read(opened, end)
        finally:
            await close(opened)

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSchema] = (),
        settings: SamplingSettings | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[ModelEvent]:
        """Stream one assistant message as typed events (SSE), ending with `FinishEvent`.

        Raises:
            BackendError: The request failed after retries, or the stream broke
                mid-way (text already yielded stays valid; continue elsewhere).
        """
        end = self._end(deadline)
        body = build_body(self.model, messages, tools, settings or SamplingSettings(), stream=True)
        opened = await self._open(body, end)
        if opened is None:
            yield FinishEvent(reason="deadline")
            return
        try:
            if opened.is_sse:
                async for event in self._events(opened, end):
                    yield event
            else:  # a server that ignores ``stream`` answers with one JSON body
                for event in response_events(await self._read(opened, end)):
                    yield event
        finally:
            await close(opened)

    async def _line(self, opened: StreamOpen, end: float, limit: float) -> str | bool | None:
        """The next SSE line by ``limit``; None at the end of the body; False at ``end``.

        A ``limit`` before ``end`` is the first-token deadline: missing it is a failure.
        """
        with Deadline.scope(limit):
            try:
                return await anext(opened.lines, None)
            except httpx.TransportError as exc:
                opened.call.failure()
                raise ModelUnavailableError(
                    f"stream broke mid-way: {type(exc).__name__}", backend=self.base_url
                ) from exc
            except ModelProtocolError:
                opened.call.failure()
                raise
        if limit < end:
            opened.call.failure()
            raise ModelUnavailableError("no first token in time", backend=self.base_url)
        return False

    async def _events(self, opened: StreamOpen, end: float) -> AsyncIterator[ModelEvent]:
        acc = ToolCallAccumulator()
        finish: FinishReason | None = None
        state = SSEState()
        # One first-token window for the body: comment lines (keep-alives) do not renew it.
        first_by = min(end, time.monotonic() + self.timeouts.first_token_s)
        while True:
            line = await self._line(opened, end, end if state.seen else first_by)
            if line is False:
                finish = "deadline"
                break
            if line is None or line is True:
                break
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                state.done = True
                break
            try:
                events = state.chunk(parse_json(data, self.base_url), acc, self.base_url)
            except ModelProtocolError:
                opened.call.failure()
                raise
            state.seen = opened.seen = True
            for event in events:
                yield event
            finish = state.finish or finish
        if not state.done and finish is None:
            opened.call.failure()
            raise ModelUnavailableError("stream ended before [DONE]", backend=self.base_url)
        if finish != "deadline":
            opened.call.success()
        for call in acc.calls():
            yield ToolCallEvent(call=call)
        if state.usage is not None:
            yield UsageEvent(usage=state.usage)
        if state.spec is not None:
            yield StreamStatsEvent(stats=state.spec, tokens=state.tokens, final=True)
        yield FinishEvent(reason=finish or ("tool_calls" if acc.calls() else "stop"))
