"""What a web page (or a stray client) can do to a server on localhost: JSON only, loopback Host."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import httpx
import openai
import pytest
from starlette.applications import Starlette

from agentkit import ScriptedModel
from agentkit.server import ServerConfig, ServerThread, create_app

Serve = Callable[[Starlette], ServerThread]
CHAT = "/v1/chat/completions"
BODY = b'{"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}'


@pytest.fixture(scope="module")
def srv() -> Iterator[ServerThread]:
    with ServerThread(create_app(ScriptedModel(["fine"] * 100))) as server:
        yield server


def _error(resp: httpx.Response, status: int) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    return dict(err)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",  # what a page's form or fetch() sends without a CORS preflight
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "application/json; charset=latin-1",  # JSON is UTF-8 (RFC 8259)
        None,  # fetch() with a Blob or ArrayBuffer body sends none, without a preflight
    ],
)
@pytest.mark.parametrize("path", [CHAT, "/v1/completions"])
def test_bodies_that_are_not_declared_json_get_415(
    srv: ServerThread, content_type: str | None, path: str
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    resp = httpx.post(srv.url + path, content=BODY, headers=headers)
    assert resp.request.headers.get("content-type") == content_type  # httpx adds none
    err = _error(resp, 415)
    assert err["code"] == "unsupported_media_type"
    assert err["type"] == "invalid_request_error"
    assert "application/json" in str(err["message"])


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;Charset=UTF-8"],
)
def test_json_bodies_are_served(srv: ServerThread, content_type: str) -> None:
    resp = httpx.post(srv.url + CHAT, content=BODY, headers={"Content-Type": content_type})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LocalHost:8000",
        "127.0.0.1",
        "127.0.0.1:1",
        "127.8.9.10:80",
        "[::1]",
        "[::1]:9",
    ],
)
def test_loopback_host_headers_are_served_without_a_key(srv: ServerThread, host: str) -> None:
    assert httpx.get(srv.url + "/health", headers={"Host": host}).status_code == 200
    resp = httpx.post(srv.url + CHAT, content=BODY, headers=_json({"Host": host}))
    assert resp.status_code == 200


def _json(headers: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": "application/json", **headers}


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",  # a DNS-rebinding page: its name now resolves to 127.0.0.1
        "evil.example:8000",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "0.0.0.0",
        "192.168.1.10:8000",
        "[::2]:80",
        "",
        "localhost:http",
    ],
)
def test_other_host_headers_get_403_without_a_key(srv: ServerThread, host: str) -> None:
    for method, path in (("GET", "/health"), ("GET", "/metrics"), ("GET", "/v1/models")):
        err = _error(httpx.request(method, srv.url + path, headers={"Host": host}), 403)
        assert err["code"] == "host_not_allowed"
    resp = httpx.post(srv.url + CHAT, content=BODY, headers=_json({"Host": host}))
    assert _error(resp, 403)["code"] == "host_not_allowed"


def test_a_request_without_host_header_is_served(srv: ServerThread) -> None:
    # HTTP/1.0 needs no Host; a browser always sends one, so this opens nothing.
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200")


def test_with_a_key_or_insecure_no_auth_any_host_is_served(serve: Serve) -> None:
    keyed = serve(create_app(ScriptedModel(["a"]), config=ServerConfig(api_key="k")))
    headers = _json({"Host": "api.example.com", "Authorization": "Bearer k"})
    assert httpx.post(keyed.url + CHAT, content=BODY, headers=headers).status_code == 200
    headers["Authorization"] = "Bearer wrong"
    assert httpx.post(keyed.url + CHAT, content=BODY, headers=headers).status_code == 401
    open_ = serve(create_app(ScriptedModel(["b"]), config=ServerConfig(insecure_no_auth=True)))
    headers = _json({"Host": "api.example.com"})
    assert httpx.post(open_.url + CHAT, content=BODY, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer \xc3\xa9t\xc3\xa9",  # UTF-8
        b"Bearer \xe9",  # Latin-1
        "Bearer sécret".encode(),
        b"\xff\xfe",
    ],
)
def test_non_ascii_authorization_gets_401(serve: Serve, value: bytes) -> None:
    srv = serve(create_app(ScriptedModel([]), config=ServerConfig(api_key="s3cret")))
    auth = (b"authorization", value)
    headers = [(b"content-type", b"application/json"), auth]
    resp = httpx.post(srv.url + CHAT, content=BODY, headers=headers)
    assert _error(resp, 401)["code"] == "invalid_api_key"
    resp = httpx.get(srv.url + "/v1/models", headers=[auth])
    assert _error(resp, 401)["code"] == "invalid_api_key"


def test_a_non_ascii_key_works_when_sent_as_utf8(serve: Serve) -> None:
    srv = serve(create_app(ScriptedModel(["ok"]), config=ServerConfig(api_key="clé-1")))
    good = [(b"authorization", "Bearer clé-1".encode())]
    assert httpx.get(srv.url + "/v1/models", headers=good).status_code == 200
    bad = {"Authorization": "Bearer cle-1"}
    assert httpx.get(srv.url + "/v1/models", headers=bad).status_code == 401


def test_the_openai_client_is_unaffected(srv: ServerThread) -> None:
    client = openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)
    reply = client.chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": "x"}]
    )
    assert reply.choices[0].message.content == "fine"
    localhost = openai.OpenAI(
        base_url=f"http://localhost:{srv.port}/v1", api_key="x", max_retries=0
    )
    assert [m.id for m in localhost.models.list()] == ["scripted"]
