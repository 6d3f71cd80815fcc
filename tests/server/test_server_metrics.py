"""/metrics stays bounded: one series per route template, one count per request."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from starlette.applications import Starlette

from agentkit import ScriptedModel
from agentkit.errors import ModelUnavailableError
from agentkit.server import ServerConfig, ServerThread, create_app
from agentkit.server._metrics import ServerMetrics, route_label

Serve = Callable[[Starlette], ServerThread]
CHAT = "/v1/chat/completions"
OK_BODY = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}
Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _series(client: httpx.Client) -> Series:
    """Every sample of the server's /metrics, keyed by name and labels."""
    from prometheus_client.parser import text_string_to_metric_families

    out: Series = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _requests(series: Series, *, skip_metrics: bool = True) -> dict[tuple[str, str], float]:
    """``agentkit_server_requests_total`` by (endpoint, status), scrapes left out."""
    out = {}
    for (name, labels), value in series.items():
        if name != "agentkit_server_requests_total":
            continue
        key = (dict(labels)["endpoint"], dict(labels)["status"])
        if not (skip_metrics and key[0] == "/metrics"):
            out[key] = value
    return out


def test_thousands_of_distinct_bad_paths_add_no_series(serve: Serve) -> None:
    srv = serve(create_app(ScriptedModel([]), config=ServerConfig(api_key="k")))
    auth = {"Authorization": "Bearer k"}

    def flood(client: httpx.Client, tag: str, n: int) -> None:
        for i in range(n):
            assert client.get(f"/v1/models/{tag}-{i}", headers=auth).status_code == 404
            assert client.get(f"/v1/models/{tag}-{i}").status_code == 401
            assert client.get(f"/nowhere/{tag}/{i}").status_code == 404
            assert client.post(f"/v1/{tag}{i}", json={}).status_code == 404

    with httpx.Client(base_url=srv.url) as client:
        flood(client, "warm", 1)
        _series(client)  # a scrape is a request too: its series exists from now on
        before = _series(client)
        flood(client, "many", 500)  # 2000 requests, 1500 distinct paths
        after = _series(client)
    assert set(after) == set(before)
    counts = _requests(after)
    assert counts[("/v1/models/{model_id:path}", "404")] == 501
    assert counts[("/v1/models/{model_id:path}", "401")] == 501
    assert counts[("unmatched", "404")] == 1002


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({**OK_BODY, "stream": False}, 503),
        ({**OK_BODY, "stream": True}, 503),
        ({**OK_BODY, "temperature": "hot"}, 400),
        ({**OK_BODY, "model": "gpt-9"}, 404),
        (OK_BODY, 200),
    ],
)
def test_one_chat_request_is_counted_exactly_once(
    serve: Serve, body: dict[str, object], status: int
) -> None:
    down = ModelUnavailableError("connection refused", backend="x")
    srv = serve(create_app(ScriptedModel([down, down] if status == 503 else ["fine"])))
    with httpx.Client(base_url=srv.url) as client:
        before = _requests(_series(client))
        assert client.post(CHAT, json=body).status_code == status
        after = _requests(_series(client))
    delta = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}
    assert delta == {(CHAT, str(status)): 1.0}


def test_probes_and_wrong_methods_are_counted_by_route(serve: Serve) -> None:
    srv = serve(create_app(ScriptedModel([])))
    with httpx.Client(base_url=srv.url) as client:
        client.get("/health")
        client.get(CHAT)  # 405: the route matched, the method did not
        counts = _requests(_series(client))
    assert counts[("/health", "200")] == 1
    assert counts[(CHAT, "405")] == 1


def test_the_tokens_per_second_window_is_bounded_without_a_scraper() -> None:
    now = [0.0]
    metrics = ServerMetrics(clock=lambda: now[0])
    for _ in range(100_000):  # 100 s of 1 ms generations, never scraped
        metrics.record_tokens(3)
        now[0] += 0.001
    assert len(metrics._window) <= 101  # 10 s in 0.1 s buckets
    assert metrics._rate() == pytest.approx(3000.0, rel=0.02)  # 3 tokens a ms
    now[0] += 60.0
    assert metrics._rate() == 0.0


def test_the_window_is_bounded_with_the_real_clock() -> None:
    metrics = ServerMetrics()
    for _ in range(50_000):
        metrics.record_tokens(1)
    assert len(metrics._window) <= 101
    assert metrics._rate() == pytest.approx(5_000.0)  # all within the last 10 s


def test_route_label_falls_back_to_matching_when_the_scope_names_no_route() -> None:
    app = create_app(ScriptedModel([]))
    scope = {"type": "http", "method": "GET", "root_path": "", "router": app.router}
    assert route_label({**scope, "path": "/v1/models/any/thing"}) == "/v1/models/{model_id:path}"
    assert route_label({**scope, "path": "/v1/models", "method": "POST"}) == "/v1/models"
    assert route_label({**scope, "path": "/nowhere"}) == "unmatched"
