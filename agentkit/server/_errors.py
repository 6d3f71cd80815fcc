"""OpenAI-shaped HTTP errors and the mapping from backend exceptions to them.

Every error the server returns has the body OpenAI clients parse::

    {"error": {"message": str, "type": str, "param": str | None, "code": str | None}}

Backend exceptions are mapped by type (`error_from_exception`; the whole table
is in ``docs/server.md``). The engine's error tree is reached through
``sys.modules`` rather than imported: importing ``engine`` loads torch, which
``agentkit`` never does at import time, and if ``engine._errors`` was never
imported, none of its errors can have been raised.
"""

from __future__ import annotations

import math
import sys
from types import ModuleType
from typing import Any

from starlette.responses import JSONResponse

from agentkit._errors import BackendError, ModelUnavailableError, UserError

__all__ = ["APIError", "error_from_exception"]

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "service_unavailable",
}


class APIError(Exception):
    """An error answered to the client with an HTTP status and an OpenAI error body.

    Attributes:
        status: The HTTP status code.
        message: A human-readable explanation.
        type: The OpenAI error type (derived from ``status`` unless given).
        param: The request field at fault, if any.
        code: A machine-readable code (``model_not_found``, ``invalid_api_key``...).
        headers: Extra response headers (``Retry-After`` on 429/503).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _TYPE_BY_STATUS.get(status, "server_error")
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The OpenAI error object (also sent as an SSE event mid-stream)."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        """The error as a JSON response with its status and headers."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def _engine_errors() -> ModuleType | None:
    return sys.modules.get("engine._errors")


def _engine_cause(exc: BaseException, errors: ModuleType) -> BaseException | None:
    """``exc`` or the first error it was raised from that is an ``engine.EngineError``.

    ``agentkit.EngineModel`` wraps the engine's errors in `BackendError` (the
    agent loop's contract); the cause says who was at fault.
    """
    root: type[BaseException] = errors.EngineError
    cur: BaseException | None = exc
    for _ in range(8):  # a cause chain is short; a cycle must not hang the server
        if cur is None:
            return None
        if isinstance(cur, root):
            return cur
        cur = cur.__cause__
    return None


def _from_engine(exc: BaseException, errors: ModuleType, retry_after_s: int) -> APIError:
    """The status of an engine error: who can fix it (caller 400, time 429, operator 503)."""
    msg = str(exc)
    if isinstance(exc, errors.ContextOverflowError):
        return APIError(400, msg, param="messages", code="context_length_exceeded")
    if isinstance(exc, errors.ChatTemplateError):
        return APIError(400, msg, param="messages", code="invalid_conversation")
    if isinstance(exc, errors.InvalidSamplingError):
        return APIError(400, msg, param=getattr(exc, "field", "") or None)
    if isinstance(exc, errors.InvalidRequestError):
        return APIError(400, msg)
    if isinstance(exc, errors.CapacityError):
        # a request refused for its deadline may start once the estimated wait is over
        wait = max(retry_after_s, math.ceil(getattr(exc, "estimated_start_s", 0.0)))
        return APIError(429, msg, code="capacity", headers={"Retry-After": str(wait)})
    if isinstance(exc, errors.EngineClosedError):
        headers = {"Retry-After": str(retry_after_s)}
        return APIError(503, f"shutting down: {msg}", code="shutting_down", headers=headers)
    return APIError(500, f"internal error: {type(exc).__name__}")


def error_from_exception(exc: BaseException, *, retry_after_s: int = 1) -> APIError:
    """Map an exception raised while serving a request to the status a client should see.

    Args:
        exc: The exception a `Model`, a text backend or a token counter raised.
        retry_after_s: The ``Retry-After`` of 429 and 503 answers.

    Returns:
        For the engine's errors (raised directly or as the cause of a
        `BackendError`): 400 when the request is at fault (context overflow,
        a rejected conversation, bad sampling values or schema), 429 when the
        engine is at capacity (no free slot, full queue), 503 when it is
        shutting down, 500 otherwise. For other backends: 503 when unreachable,
        502 for an upstream failure. Anything else is an internal fault: 500.
    """
    if isinstance(exc, APIError):
        return exc
    errors = _engine_errors()
    cause = None if errors is None else _engine_cause(exc, errors)
    if errors is not None and cause is not None:
        return _from_engine(cause, errors, retry_after_s)
    if isinstance(exc, ModelUnavailableError):
        headers = {"Retry-After": str(retry_after_s)}
        return APIError(503, f"backend unavailable: {exc}", headers=headers)
    if isinstance(exc, BackendError):  # an upstream model endpoint failed
        return APIError(502, f"backend error: {exc}")
    if isinstance(exc, UserError):
        return APIError(500, f"server misconfigured: {exc}")
    return APIError(500, f"internal error: {type(exc).__name__}")
