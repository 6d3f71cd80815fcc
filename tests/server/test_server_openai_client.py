"""The server driven by the official `openai` client: it must work unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from agentkit import (
    FunctionModel,
    Message,
    ModelResponse,
    ScriptedModel,
    SpeculativeStats,
    ToolCall,
)
from agentkit.server import FIM_INSTRUCTION, ServerThread, create_app
from agentkit.testing import ModelCall

Serve = Callable[[Starlette], ServerThread]
SPEC = SpeculativeStats(
    mode="ngram",
    drafted=10,
    accepted=7,
    acceptance_rate=0.7,
    target_steps=5,
    mean_accepted_length=2.4,
)
SPEC_JSON = {
    "drafted": 10,
    "accepted": 7,
    "acceptance_rate": 0.7,
    "mean_accepted_length": 2.4,
    "target_steps": 5,
}


def _client(srv: ServerThread, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{srv.url}/v1", api_key=key, max_retries=0)


def _answer(text: str) -> ModelResponse:
    return ModelResponse(message=Message.assistant(text), speculative=SPEC)


def test_chat_non_streaming_passes_messages_and_settings(serve: Serve) -> None:
    model = ScriptedModel([_answer("Bonjour tout le monde")])
    srv = serve(create_app(model))
    resp = _client(srv).chat.completions.create(
        model="scripted",
        messages=[{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}],
        temperature=0.2,
        top_p=0.9,
        seed=7,
        max_tokens=33,
        stop=["\n\n"],
        extra_body={"deadline_ms": 5000},
    )
    assert resp.choices[0].message.content == "Bonjour tout le monde"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model_extra is not None and resp.model_extra["speculative"] == SPEC_JSON
    call = model.calls[0]
    assert [m.role for m in call.messages] == ["system", "user"]
    s = call.settings
    assert (s.temperature, s.top_p, s.seed, s.max_tokens, s.stop) == (0.2, 0.9, 7, 33, ("\n\n",))
    assert call.deadline is not None


def test_chat_streaming_with_usage_and_speculative_in_last_chunk(serve: Serve) -> None:
    srv = serve(create_app(ScriptedModel([_answer("one two three four")])))
    chunks = list(
        _client(srv).chat.completions.create(
            model="scripted",
            messages=[{"role": "user", "content": "count"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finish] == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens == 4
    assert last.model_extra is not None and last.model_extra["speculative"] == SPEC_JSON


def test_speculative_in_last_chunk_without_include_usage(serve: Serve) -> None:
    srv = serve(create_app(ScriptedModel([_answer("a b")])))
    chunks = list(
        _client(srv).chat.completions.create(
            model="scripted", messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra is not None
    assert chunks[-1].model_extra["speculative"] == SPEC_JSON
    assert all(c.usage is None for c in chunks)


def test_tool_call_round_trip(serve: Serve) -> None:
    call = ToolCall.of("call_1", "get_weather", '{"city": "Paris"}')
    model = ScriptedModel([call, "It is sunny in Paris.", call])
    srv = serve(create_app(model))
    client = _client(srv)
    tools: list[Any] = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather of a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model="scripted", messages=messages, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    got: Any = choice.message.tool_calls[0]
    assert (got.id, got.function.name, json.loads(got.function.arguments)) == (
        "call_1",
        "get_weather",
        {"city": "Paris"},
    )
    assert model.calls[0].tools[0]["function"]["name"] == "get_weather"
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    second = client.chat.completions.create(model="scripted", messages=messages, tools=tools)
    assert second.choices[0].message.content == "It is sunny in Paris."
    history = model.calls[1].messages
    assert history[1].tool_calls == (call,)
    assert history[2] == Message.tool("call_1", "sunny")
    # Streaming: the call arrives as one delta; tool_choice "none" keeps the tools in
    # the prompt and tells the model not to call them (a scripted double calls anyway).
    chunks = list(
        client.chat.completions.create(
            model="scripted", messages=messages[:1], tools=tools, tool_choice="none", stream=True
        )
    )
    deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    assert [(d.index, d.id, d.function.name if d.function else None) for d in deltas] == [
        (0, "call_1", "get_weather")
    ]
    assert [t["function"]["name"] for t in model.calls[2].tools] == ["get_weather"]
    assert model.calls[2].settings.tool_choice == "none"
    assert model.calls[1].settings.tool_choice == "auto"


def test_completion_with_suffix_stops_where_output_repeats_suffix(serve: Serve) -> None:
    def fill(call: ModelCall) -> str:
        return "total = a + b\n    return total\n\nprint(add(1, 2))"

    model = FunctionModel(fill, name="coder")
    srv = serve(create_app(model))
    prompt, suffix = "def add(a, b):\n    ", "\n    return total\n"
    resp = _client(srv).completions.create(model="coder", prompt=prompt, suffix=suffix)
    assert resp.choices[0].text == "total = a + b"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model_extra is not None and "speculative" in resp.model_extra
    sent = model.calls[0].messages[-1].content
    assert sent == FIM_INSTRUCTION.format(prompt=prompt, suffix=suffix)
    streamed = list(
        _client(srv).completions.create(
            model="coder",
            prompt=prompt,
            suffix=suffix,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == "total = a + b"
    assert streamed[-1].usage is not None
    assert streamed[-1].model_extra is not None and "speculative" in streamed[-1].model_extra


def test_completion_without_suffix_sends_prompt_and_honours_stop(serve: Serve) -> None:
    model = FunctionModel(lambda call: "alpha beta STOP gamma", name="m")
    srv = serve(create_app(model))
    resp = _client(srv).completions.create(model="m", prompt="Say:", stop="STOP", echo=True)
    assert resp.choices[0].text == "Say:alpha beta "
    assert model.calls[0].messages == (Message.user("Say:"),)


def test_models_health_and_metrics(serve: Serve) -> None:
    srv = serve(
        create_app(
            ScriptedModel(["a b c", "d e"]),
        )
    )
    client = _client(srv)
    assert [m.id for m in client.models.list()] == ["scripted"]
    client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x"}])
    list(
        client.chat.completions.create(
            model="scripted", messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    health = httpx.get(f"{srv.url}/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    text = httpx.get(f"{srv.url}/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    assert (
        samples[
            (
                "agentkit_server_requests_total",
                (("endpoint", "/v1/chat/completions"), ("status", "200")),
            )
        ]
        == 2
    )
    assert samples[("agentkit_server_generated_tokens_total", ())] == 5
    assert samples[("agentkit_server_time_to_first_token_seconds_count", ())] == 2
    assert samples[("agentkit_server_inter_token_latency_seconds_count", ())] == 3
    assert samples[("agentkit_server_in_flight", ())] == 0
    assert samples[("agentkit_server_queue_depth", ())] == 0
    assert samples[("agentkit_server_batch_size", ())] == 0
    for name in ("agentkit_server_tokens_per_second", "agentkit_server_spec_acceptance_rate"):
        assert (name, ()) in samples
