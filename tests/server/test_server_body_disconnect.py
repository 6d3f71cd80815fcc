"""A client that hangs up halfway through its request body is a 499, not a server error.

Found by the soak (``agentkit bench soak``): each such request was counted as a
500 in ``/metrics`` (and logged with a traceback), though no client saw it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import httpx
from _server_doubles import wait_until
from starlette.applications import Starlette

from agentkit import ScriptedModel
from agentkit.server import ServerThread, create_app


def _requests_by_status(url: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("agentkit_server_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            status = labels.split('status="', 1)[1].split('"', 1)[0]
            counts[status] = counts.get(status, 0.0) + float(value)
    return counts


def test_a_body_cut_short_counts_as_client_gone(
    serve: Callable[[Starlette], ServerThread],
) -> None:
    srv = serve(create_app(ScriptedModel([])))
    body = json.dumps({"model": "scripted", "messages": [{"role": "user", "content": "hi"}]})
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {srv.host}:{srv.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    for _ in range(3):
        with socket.create_connection((srv.host, srv.port)) as sock:
            sock.sendall(head.encode() + body[: len(body) // 2].encode())
    assert wait_until(lambda: _requests_by_status(srv.url).get("499") == 3), _requests_by_status(
        srv.url
    )
    assert not [s for s in _requests_by_status(srv.url) if s.startswith("5")]
