"""What a request must show before the server reads it: its Host, its key, its body's type.

A server on localhost is reachable from any web page the user opens. Two
browser paths matter:

- **Cross-site requests** ("simple" ones, sent without a CORS preflight) can
  carry a body typed ``text/plain``, a form type, or no type at all (``fetch``
  with a ``Blob`` body), but never ``application/json``, and never an
  ``Authorization`` header. So a POST body must be declared
  ``application/json`` (else 415), and a key, when set, must come in that header.
- **DNS rebinding** makes a page's own name resolve to 127.0.0.1, so that the
  page may read the answers; its requests still carry the page's name in
  ``Host``. So without a key only loopback names are served (else 403).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from agentkit.server._errors import APIError

__all__ = ["HostGuard", "authorize", "is_loopback_host", "read_json_body"]

_JSON = "application/json"
_LOOPBACK_NAME = "localhost"


def is_loopback_host(host: str) -> bool:
    """Whether a ``Host`` header names this machine by a loopback name or address.

    ``localhost``, any 127.0.0.0/8 address and ``[::1]`` are, with or without a
    port; every other name is not, including names that resolve to 127.0.0.1
    (that is what a DNS-rebinding page uses).

    Example:
        >>> [is_loopback_host(h) for h in ("localhost:8000", "[::1]", "evil.example")]
        [True, True, False]
    """
    name, port = host, ""
    if host.startswith("["):
        name, bracket, port = host[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return False
        port = port[1:]
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    if port and not port.isdigit():
        return False
    if name.lower() == _LOOPBACK_NAME:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class HostGuard:
    """ASGI middleware: 403 to HTTP requests whose ``Host`` is not a loopback name.

    A request without a ``Host`` header (HTTP/1.0) passes: browsers always send one.

    Args:
        app: The wrapped ASGI app.
        enabled: False lets every Host through (an API key is set, or the
            operator chose ``--insecure-no-auth``).
    """

    def __init__(self, app: ASGIApp, enabled: bool) -> None:
        self._app = app
        self._enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request or pass it on."""
        if self._enabled and scope["type"] == "http":
            host = next((v for k, v in scope["headers"] if k == b"host"), None)
            if host is not None and not is_loopback_host(host.decode("latin-1")):
                await _refusal().response()(scope, receive, send)
                return
        await self._app(scope, receive, send)


def _refusal() -> APIError:
    msg = (
        "Host header not allowed: without an API key this server answers only to "
        "localhost, 127.0.0.1 and [::1] (set an API key to serve other names)"
    )
    return APIError(403, msg, type="invalid_request_error", code="host_not_allowed")


def _digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


def authorize(request: Request, key: str | None) -> None:
    """Check ``Authorization: Bearer <key>`` in constant time (401 otherwise; no key: pass).

    Header bytes are compared, not text: Starlette decodes headers as Latin-1,
    so encoding back gives the bytes sent, and a key with non-ASCII characters
    matches when the client sends it in UTF-8. Hashing both sides first makes
    the comparison's time independent of the key's length too.
    """
    if key is None:
        return
    given = request.headers.get("authorization", "").encode("latin-1")
    scheme, _, token = given.partition(b" ")
    ok = hmac.compare_digest(_digest(token.strip()), _digest(key.encode()))
    if scheme.lower() != b"bearer" or not ok:
        raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")


def _require_json(request: Request) -> None:
    """415 unless the body is declared ``application/json`` (charset, if any, UTF-8)."""
    declared = request.headers.get("content-type")
    media, *params = (part.strip().lower() for part in (declared or "").split(";"))
    charsets = {v.strip('"') for k, _, v in (p.partition("=") for p in params) if k == "charset"}
    if media != _JSON or not charsets <= {"utf-8", "utf8"}:
        shown = "none" if declared is None else repr(declared)
        msg = f"Content-Type must be application/json (UTF-8), not {shown}"
        raise APIError(415, msg, type="invalid_request_error", code="unsupported_media_type")


async def read_json_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The body of a JSON POST: 415 if not declared JSON, 413 over ``limit``, 408 if too slow.

    A body is refused as soon as it is known to exceed ``limit``: by its
    ``Content-Length`` before any of it is read, or while a chunked one arrives.
    The whole body must arrive within ``timeout_s``.
    """
    _require_json(request)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise APIError(400, "invalid Content-Length header")
        if int(declared) > limit:
            raise APIError(413, f"request body over {limit} bytes", code="body_too_large")
    parts: list[bytes] = []
    size = 0
    with anyio.move_on_after(timeout_s) as scope:
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:  # chunked bodies declare no length
                    raise APIError(413, f"request body over {limit} bytes", code="body_too_large")
                parts.append(chunk)
        except ClientDisconnect:  # no one to answer: count it as gone, not as our fault
            msg = "the client closed the connection before its request body arrived"
            raise APIError(499, msg, type="invalid_request_error", code="client_closed") from None
    if scope.cancelled_caught:
        msg = f"the request body did not arrive within {timeout_s:g} s"
        raise APIError(
            408, msg, type="invalid_request_error", code="timeout", headers={"Connection": "close"}
        )
    return b"".join(parts)
