"""OpenAI-shaped HTTP errors and the mapping from backend exceptions to them.

Every error the server returns has the body OpenAI clients parse::

    {"error": {"message": str, "type": str, "param": str | None, "code": str | None}}

Backend exceptions are mapped by class name as well as by type, because the
engine's error tree (``engine._errors``) must not be imported here: importing
``engine`` may load torch, and ``agentkit`` never does at import time.
"""

from __future__ import annotations

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


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def error_from_exception(exc: BaseException) -> APIError:
    """Map an exception raised by a backend call to the status a client should see.

    Args:
        exc: The exception a `Model` or text backend raised.

    Returns:
        400 for the caller's mistakes (prompt over the context, bad sampling),
        429 when the backend is at capacity, 503 when it is unreachable,
        502 for other backend failures and 500 for anything unexpected.
    """
    if isinstance(exc, APIError):
        return exc
    names = _class_names(exc)
    if "ContextOverflowError" in names:
        return APIError(400, str(exc), param="messages", code="context_length_exceeded")
    if "InvalidSamplingError" in names:
        return APIError(400, str(exc), param=getattr(exc, "field", None) or None)
    if "CapacityError" in names:
        return APIError(429, str(exc), code="capacity", headers={"Retry-After": "1"})
    if isinstance(exc, ModelUnavailableError):
        return APIError(503, f"backend unavailable: {exc}", headers={"Retry-After": "1"})
    if isinstance(exc, BackendError):
        return APIError(502, f"backend error: {exc}")
    if isinstance(exc, UserError):
        return APIError(500, f"server misconfigured: {exc}")
    return APIError(500, f"internal error: {type(exc).__name__}")
