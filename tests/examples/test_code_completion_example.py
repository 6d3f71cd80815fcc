"""The code-completion example: acceptance scoring, stale-request cancellation, a real replay."""

from __future__ import annotations

import math
from typing import Any

import anyio
import httpx
import pytest

from agentkit import FunctionModel
from agentkit.server import server_state
from examples.code_completion import (
    Completer,
    Completion,
    KeyEvent,
    completion_app,
    future_text,
    load_session,
    rank_candidates,
    replay,
    report,
    start_server,
)


def test_shipped_session_is_insert_only_and_reconstructs_the_file() -> None:
    events = load_session()
    assert len(events) >= 5
    final = events[-1].text
    for i, e in enumerate(events):
        # what the user typed from here on, put back at the cursor, is the final file
        assert e.prefix + future_text(events, i) + e.suffix == final


def test_acceptance_counts_completions_the_user_then_typed() -> None:
    events = [
        KeyEvent(0, "x = ", 4),
        KeyEvent(100, "x = max(", 8),
        KeyEvent(200, "x = max(a, b)", 13),
    ]
    results = [
        Completion(0, "ok", "max(a", 10.0),  # typed next: accepted
        Completion(1, "ok", "b, a)", 20.0),  # the user typed "a, b)": rejected
        Completion(2, "ok", "", 30.0),  # nothing ready at the deadline: not shown
    ]
    rep = report(events, [*results, Completion(3, "cancelled", latency_ms=1.0)])
    assert (rep.requests, rep.completed, rep.cancelled, rep.shown, rep.accepted) == (4, 3, 1, 2, 1)
    assert rep.acceptance == 0.5
    assert (rep.p50_ms, rep.p90_ms, rep.p99_ms) == (20.0, 30.0, 30.0)
    silent = report(events, [Completion(0, "cancelled", latency_ms=1.0)])
    assert math.isnan(silent.p50_ms) and math.isnan(silent.p99_ms)  # nothing was answered


def test_a_newer_keystroke_cancels_the_stale_request_and_frees_the_slot() -> None:
    slow = FunctionModel(lambda call: "one two three four five six", delay_s=0.3)
    app = completion_app(model=slow)
    server = start_server(app)
    try:

        async def main() -> list[Completion]:
            async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as client:
                completer = Completer(client, deadline_ms=5000, max_tokens=8)
                async with anyio.create_task_group() as group:
                    completer.request(group, 0, "def f(", ")")
                    await anyio.sleep(0.2)  # the first is mid-generation
                    completer.request(group, 1, "def f(x", ")")
                return sorted(completer.results, key=lambda r: r.index)

        first, second = anyio.run(main)
        assert first.status == "cancelled" and first.text == ""
        assert second.status == "ok" and second.text.startswith("one two")
        assert len(slow.calls) == 2
        state = server_state(app)
        for _ in range(100):  # the server notices the disconnect and releases the slot
            if state.admission.in_flight == 0:
                break
            anyio.run(anyio.sleep, 0.02)
        assert state.admission.in_flight == 0
    finally:
        server.stop()


def test_deadline_returns_what_is_ready() -> None:
    slow = FunctionModel(lambda call: "a b c d e f g h", delay_s=0.1)
    server = start_server(completion_app(model=slow))
    try:
        events = [KeyEvent(0, "print(", 6)]
        (result,) = anyio.run(lambda: replay(server.url, events, deadline_ms=250, max_tokens=16))
        assert result.status == "ok"
        assert result.finish_reason == "deadline"
        assert 0 < len(result.text.split()) < 8
    finally:
        server.stop()


@pytest.mark.slow
def test_replay_on_the_embedded_model_full_session(engine: Any) -> None:
    server = start_server(completion_app(engine))
    try:
        events = load_session()
        results = anyio.run(lambda: replay(server.url, events, max_tokens=8))
    finally:
        server.stop()
    rep = report(events, results)
    assert rep.requests == len(events) == rep.completed + rep.cancelled + rep.errors
    assert results[-1].status != "cancelled"  # the last keystroke is never superseded


def test_replay_on_the_embedded_model(engine: Any) -> None:
    server = start_server(completion_app(engine))
    try:
        events = load_session()[-2:]
        results = anyio.run(
            lambda: replay(server.url, events, speed=1000.0, deadline_ms=60_000, max_tokens=6)
        )
    finally:
        server.stop()
    rep = report(events, results)
    assert rep.requests == 2 and rep.errors == 0
    assert rep.completed >= 1  # the last keystroke is never superseded
    assert results[-1].status == "ok" and results[-1].finish_reason in ("stop", "length")


def test_candidates_rank_by_mean_logprob_not_by_sum() -> None:
    choices = [
        {"index": 0, "text": "x", "logprobs": {"token_logprobs": [-1.0]}},
        {"index": 1, "text": "value + 1", "logprobs": {"token_logprobs": [-0.2] * 6}},
        {"index": 2, "text": "", "logprobs": {"token_logprobs": []}},  # nothing ready
        {"index": 3, "text": "x", "logprobs": {"token_logprobs": [-1.0]}},  # a duplicate
    ]
    ranked = rank_candidates(choices)
    assert [c.text for c in ranked] == ["value + 1", "x", ""]
    short, long = ranked[1], ranked[0]
    # by the sum the one-token guess would win: every token adds a negative term
    assert short.sum_logprob > long.sum_logprob and long.mean_logprob > short.mean_logprob
    assert ranked[2].mean_logprob == -math.inf


def test_n_candidates_ranked_by_logprob_on_the_embedded_model(engine: Any) -> None:
    server = start_server(completion_app(engine))
    try:

        async def main() -> Completion:
            async with httpx.AsyncClient(base_url=server.url, timeout=120.0) as client:
                completer = Completer(client, deadline_ms=60_000, max_tokens=6, n=3, seed=3)
                async with anyio.create_task_group() as group:
                    completer.request(group, 0, "def add(a, b):\n    return ", "\n")
                return completer.results[0]

        result = anyio.run(main)
    finally:
        server.stop()
    assert result.status == "ok", result.finish_reason
    ranked = result.candidates
    assert 1 <= len(ranked) <= 3 and result.text == ranked[0].text
    assert all(c.token_logprobs and max(c.token_logprobs) <= 0 for c in ranked if c.text)
    means = [c.mean_logprob for c in ranked]
    assert means == sorted(means, reverse=True)  # shown: the one the model is surest of
    assert len({c.index for c in ranked}) == len(ranked)
