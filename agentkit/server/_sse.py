"""A server-sent-events response that stops its producer when the client leaves.

Starlette's `StreamingResponse` notices a disconnect only when the next send
fails under ASGI spec 2.4 servers; this one always listens for
``http.disconnect`` and cancels the producer at once, so a slow generation is
closed (and its engine slot freed) even between tokens.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from typing import Any

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["EventStreamResponse", "sse_data"]


def sse_data(payload: dict[str, Any] | str) -> bytes:
    """One SSE ``data:`` event (``[DONE]`` is passed as a plain string)."""
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


class EventStreamResponse(Response):
    """Streams ``text/event-stream`` chunks; a client disconnect cancels the producer."""

    media_type = "text/event-stream"

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        on_close: Callable[[], Awaitable[None]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._chunks = chunks
        self._on_close = on_close
        self.status_code = 200
        self.background = None
        self.init_headers(
            {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the stream while watching for the client to go away."""
        try:
            await self._watch(receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._close_chunks()
                if self._on_close is not None:
                    await self._on_close()

    async def _close_chunks(self) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()

    async def _watch(self, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as tg:

            async def produce() -> None:
                with suppress(OSError):  # the client went away while we were sending
                    await self._send_all(send)
                tg.cancel_scope.cancel()

            tg.start_soon(produce)
            while (await receive())["type"] != "http.disconnect":
                pass
            tg.cancel_scope.cancel()

    async def _send_all(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        async for chunk in self._chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
