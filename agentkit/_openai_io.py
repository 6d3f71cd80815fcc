"""The I/O side of `OpenAIModel`: reading bodies with limits, and settling the breaker.

A deep tier is not trusted to be well-behaved: a body or an SSE line past its
limit raises `ModelProtocolError` instead of filling memory, bytes that are not
UTF-8 decode with U+FFFD, and SSE lines end only at CR, LF or CRLF (the SSE
rule; httpx's ``aiter_lines`` also splits at U+2028, U+0085 and other Unicode
line breaks, which JSON strings may hold unescaped, so one chunk became two
halves of bad JSON). `attempt_error` and `close` decide what a call told the
circuit breaker (see `agentkit._breaker`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator

import anyio
import httpx

from agentkit._breaker import BreakerCall
from agentkit._errors import ModelHTTPError, ModelProtocolError, ModelUnavailableError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_LINE_BYTES",
    "MAX_STREAM_BYTES",
    "StreamOpen",
    "attempt_error",
    "close",
    "read_body",
    "read_head",
    "sse_lines",
]

MAX_BODY_BYTES = 16 << 20  # a whole (non-streamed) completion: far above any real answer
MAX_LINE_BYTES = 1 << 20  # one SSE line: a chunk holds a few tokens
# A whole stream: ~100 bytes of JSON per token, so far above any real answer, but a
# hostile endpoint cannot fill memory with text or tool-call fragments within total_s.
MAX_STREAM_BYTES = 64 << 20
_EOL = re.compile(rb"\r\n|\r|\n")


class StreamOpen:
    """A response whose body is still to be read, and the breaker call it settles.

    Attributes:
        response: The httpx response (status and content type already checked).
        call: This request's claim on the circuit breaker.
        lines: The body's SSE lines.
        seen: Whether a well-formed chunk has arrived (the backend is answering).
    """

    def __init__(self, response: httpx.Response, call: BreakerCall, backend: str) -> None:
        self.response = response
        self.call = call
        self.lines = sse_lines(response, MAX_LINE_BYTES, backend, MAX_STREAM_BYTES)
        self.seen = False

    @property
    def is_sse(self) -> bool:
        """Whether the body is a server-sent event stream (else a plain JSON body)."""
        return "event-stream" in self.response.headers.get("content-type", "")


def attempt_error(call: BreakerCall, exc: BaseException, backend: str) -> BaseException:
    """Settle the breaker for a failed attempt; returns the exception to raise."""
    if isinstance(exc, ModelHTTPError):
        call.status(exc.status)
        return exc
    if isinstance(exc, httpx.PoolTimeout):  # our own pool is full: no news of the backend
        call.release()
        return ModelUnavailableError("no free connection in the pool", backend=backend)
    if isinstance(exc, httpx.TransportError):
        call.failure()
        return ModelUnavailableError(
            f"{type(exc).__name__}: {exc}", backend=backend, retryable=True
        )
    if isinstance(exc, TimeoutError):
        call.failure()
        return ModelUnavailableError(
            "no response before the first-token timeout", backend=backend, retryable=True
        )
    if isinstance(exc, ModelProtocolError):
        call.failure()
        return exc
    call.release()  # the caller's cancellation or deadline (or a bug): no verdict
    return exc


async def close(opened: StreamOpen) -> None:
    """Close the response and settle a call that ended without a verdict.

    Closed early, cancelled or cut by the caller's deadline: a backend that was
    answering worked; one that had not answered yet gets no verdict, and the
    probe slot, if this call held it, is free again.
    """
    if opened.seen:
        opened.call.success()
    opened.call.release()
    with anyio.CancelScope(shield=True):
        await opened.lines.aclose()
        await opened.response.aclose()


async def read_body(response: httpx.Response, limit: int, backend: str) -> bytes:
    """The whole (decoded) body; `ModelProtocolError` past ``limit`` bytes, unread beyond."""
    parts: list[bytes] = []
    size = 0
    async for part in response.aiter_bytes():
        size += len(part)
        if size > limit:
            raise ModelProtocolError(f"response body over {limit} bytes", backend=backend)
        parts.append(part)
    return b"".join(parts)


async def read_head(response: httpx.Response, limit: int) -> bytes:
    """At most the first ``limit`` bytes of the body (an error page: the rest is dropped)."""
    parts: list[bytes] = []
    size = 0
    async for part in response.aiter_bytes():
        parts.append(part[: limit - size])
        size += len(parts[-1])
        if size >= limit:
            break
    return b"".join(parts)


async def sse_lines(
    response: httpx.Response, limit: int, backend: str, total: int = MAX_STREAM_BYTES
) -> AsyncGenerator[str, None]:
    """The body's lines (ended by CR, LF or CRLF), decoded as UTF-8 with U+FFFD for bad bytes.

    Each part is scanned once: a line longer than ``limit``, or a body longer
    than ``total``, raises `ModelProtocolError` as soon as it passes the limit.
    """
    pieces: list[bytes] = []  # the current line, not yet ended
    size = 0
    read = 0
    skip_lf = False  # the last part ended with CR: a LF opening this one is its CRLF
    async for part in response.aiter_bytes():
        read += len(part)
        if read > total:
            raise ModelProtocolError(f"stream over {total} bytes", backend=backend)
        if skip_lf and part.startswith(b"\n"):
            part = part[1:]
        skip_lf = part.endswith(b"\r")
        start = 0
        for end in _EOL.finditer(part):
            pieces.append(part[start : end.start()])
            yield b"".join(pieces).decode("utf-8", "replace")
            pieces, size, start = [], 0, end.end()
        if start < len(part):
            pieces.append(part[start:])
            size += len(part) - start
            if size > limit:
                raise ModelProtocolError(f"stream line over {limit} bytes", backend=backend)
    if pieces:
        yield b"".join(pieces).decode("utf-8", "replace")
