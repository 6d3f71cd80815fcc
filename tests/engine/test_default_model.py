"""End-to-end behaviour of the bundled default model (SmolLM2-135M-Instruct Q4_1)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import pytest
import torch

from engine import (
    CapacityError,
    ContextOverflowError,
    Engine,
    InvalidSamplingError,
    SamplingParams,
    StatsEvent,
    TextDelta,
)
from engine.kernels import backend
from engine.kv_cache import KVCache

T = TypeVar("T")

# Encodings produced by transformers' GGUF tokenizer conversion of the same file.
HF_ENCODINGS = {
    "Hello world!": [19556, 905, 17],
    "Numbers 12345 and 3.14159": [
        39006, 216, 33, 34, 35, 36, 37, 284, 216, 35, 30, 33, 36, 33, 37, 41,
    ],
    "<|im_start|>user\nhi<|im_end|>\n": [1, 4093, 198, 6004, 2, 198],
    "I'm can't we'll THEY'RE": [57, 5248, 416, 982, 392, 3060, 6462, 73, 23, 3256],
    "héllo naïve café — “quotes” 日本語 🙂👍🏽": [
        88, 2756, 31394, 15486, 46494, 37366, 1841, 619, 385, 2346, 573, 17097, 241,
        115, 40993, 179, 120, 248, 47526, 10813, 235, 231, 10813, 233, 138,
    ],
}  # fmt: skip


def run(coro_fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run an engine coroutine to completion from a sync test."""
    return anyio.run(lambda: coro_fn(*args, **kwargs))


def test_tokenizer_matches_hf_and_round_trips(default_engine: Engine) -> None:
    for text, ids in HF_ENCODINGS.items():
        assert default_engine.encode(text) == ids
        assert default_engine.tokenizer.decode(ids, skip_special_tokens=False) == text


def test_chat_template_renders(default_engine: Engine) -> None:
    p = default_engine.render_chat([{"role": "user", "content": "Hi"}])
    assert p.startswith("<|im_start|>system\n")
    assert p.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


def _greedy_stepwise(e: Engine, ids: list[int], n: int) -> list[int]:
    """Token-by-token greedy decode through forward() from an empty slot."""
    m, cache = e.model, e.cache
    slot = cache.allocate()
    try:
        out: list[int] = []
        tok = ids[0]
        for pos in range(len(ids) + n - 1):
            logits = m.forward(
                torch.tensor([tok]), torch.tensor([slot]), torch.tensor([pos]), cache
            )
            nxt = ids[pos + 1] if pos + 1 < len(ids) else int(logits[0].argmax())
            if pos + 1 >= len(ids):
                out.append(nxt)
            tok = nxt
        return out
    finally:
        cache.free(slot)


def test_greedy_generate_equals_token_by_token(default_engine: Engine) -> None:
    for prompt in ("The capital of France is",):
        r = run(default_engine.generate, prompt, SamplingParams(max_tokens=10))
        ids = default_engine.encode(prompt)
        assert _greedy_stepwise(default_engine, ids, len(r.token_ids)) == r.token_ids


@pytest.mark.slow  # the reference dequantize of 30 layers takes seconds
@pytest.mark.usefixtures("fp32_activations")  # dense prefill is fp32: compare like with like
def test_dense_prefill_matches_ragged_forward(default_engine: Engine) -> None:
    e = default_engine
    ids = torch.tensor(e.encode("The quick brown fox jumps over the lazy dog. " * 3))
    t = ids.shape[0]
    # fp32 storage: this compares the two ways' arithmetic; with fp16 storage a ~1e-5
    # difference in a key can round to the neighbouring fp16 value (test_kv_fp16.py)
    cfg = e.config
    cache = KVCache(cfg.n_layers, 1, cfg.n_kv_heads, t, cfg.head_dim, dtype=torch.float32)
    dense = e.model.prefill(ids, 0, 0, cache, all_logits=True, dense=True)
    ragged = e.model.forward(ids, torch.zeros(t, dtype=torch.long), torch.arange(t), cache)
    assert (dense - ragged).abs().max() < 1e-3  # fp32 sums in another order, logits ~ 20
    assert torch.equal(dense.argmax(-1), ragged.argmax(-1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_mixed_batch_equals_single_rows_bitwise(default_engine: Engine, dtype: torch.dtype) -> None:
    if backend() != "cpp":
        pytest.skip("bit-exact row invariance needs the C++ kernels")
    e = default_engine
    cfg = e.config
    cache = KVCache(cfg.n_layers, 3, cfg.n_kv_heads, 64, cfg.head_dim, dtype=dtype)
    a, b = e.encode("The quick brown fox"), e.encode("def add(a, b):")
    # batched: both prompts' rows in one ragged forward, sequences interleaved
    rows = [(0, t, i) for i, t in enumerate(a)] + [(1, t, i) for i, t in enumerate(b)]
    rows.sort(key=lambda r: (r[2], r[0]))
    slots, toks, pos = (torch.tensor(x) for x in zip(*rows, strict=True))
    batched = e.model.forward(toks, slots, pos, cache)
    for slot, ids in ((0, a), (1, b)):
        single = [
            e.model.forward(torch.tensor([t]), torch.tensor([2]), torch.tensor([i]), cache)[0]
            for i, t in enumerate(ids)
        ]
        mine = batched[slots == slot]
        assert torch.equal(mine, torch.stack(single))


@pytest.mark.usefixtures("fp32_activations")  # "Paris" is the fp32-activation answer
def test_stop_strings_and_max_tokens(default_engine: Engine, chat_prompts: list[str]) -> None:
    base = run(default_engine.generate, chat_prompts[0], SamplingParams(max_tokens=16))
    assert "Paris" in base.text
    r = run(
        default_engine.generate, chat_prompts[0], SamplingParams(max_tokens=16, stop=("Paris",))
    )
    assert r.finish_reason == "stop" and r.text == base.text[: base.text.index("Paris")]
    r = run(default_engine.generate, chat_prompts[1], SamplingParams(max_tokens=5))
    assert r.finish_reason == "length" and r.completion_tokens == 5
    # the first token comes from prefill; each later one from a target step or an accepted draft
    assert r.speculative.target_steps + r.speculative.accepted == 4


def test_stream_deltas_concatenate_to_text(default_engine: Engine, chat_prompts: list[str]) -> None:
    async def collect() -> tuple[str, object, int]:
        text, stats, result = "", 0, None
        async for ev in default_engine.stream(
            chat_prompts[2], SamplingParams(max_tokens=20), stats_every=4
        ):
            if isinstance(ev, TextDelta):
                text += ev.text
            elif isinstance(ev, StatsEvent):
                stats += 1
            else:
                result = ev
        return text, result, stats

    text, result, stats = anyio.run(collect)
    assert result is not None and text == result.text and stats >= 1  # type: ignore[attr-defined]


def test_deadline_returns_text_so_far(default_engine: Engine, chat_prompts: list[str]) -> None:
    r = run(
        default_engine.generate,
        chat_prompts[1],
        SamplingParams(max_tokens=500),
        time.monotonic() + 0.5,
    )
    assert r.finish_reason == "deadline" and r.completion_tokens < 500
    assert default_engine.cache.free_slots == default_engine.cache.n_slots


def test_cancellation_frees_the_slot(default_engine: Engine, chat_prompts: list[str]) -> None:
    e = default_engine

    async def main() -> None:
        with anyio.move_on_after(0.3):
            await e.generate(chat_prompts[1], SamplingParams(max_tokens=500))
        # returned at the caller's deadline; the slot is freed at the end of the step in flight
        with anyio.fail_after(2):
            while e.cache.free_slots != e.cache.n_slots:
                await anyio.sleep(0.005)
        ev = anyio.Event()
        ev.set()
        r = await e.generate(chat_prompts[1], SamplingParams(max_tokens=500), cancel=ev)
        assert r.finish_reason == "cancelled"

    anyio.run(main)
    assert e.cache.free_slots == e.cache.n_slots


def test_bad_inputs_raise_typed_errors(default_engine: Engine) -> None:
    e = default_engine
    with pytest.raises(ContextOverflowError) as ov:
        run(e.generate, [1] * e.max_seq_len)
    assert ov.value.prompt_tokens == e.max_seq_len
    with pytest.raises(InvalidSamplingError):
        run(e.generate, [e.config.vocab_size + 5])
    with pytest.raises(InvalidSamplingError):
        run(e.generate, "")
    with pytest.raises(InvalidSamplingError):
        run(e.generate, "x", SamplingParams(json_schema={"type": "no-such-type"}))
    slots = [e.cache.allocate() for _ in range(e.cache.free_slots)]
    try:
        with pytest.raises(CapacityError):
            run(e.generate, "hello")
    finally:
        for s in slots:
            e.cache.free(s)
    assert e.cache.free_slots == e.cache.n_slots


def test_json_schema_output_validates(default_engine: Engine) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 20},
            "is_capital": {"type": "boolean"},
        },
        "required": ["city", "is_capital"],
        "additionalProperties": False,
    }
    prompt = default_engine.render_chat(
        [{"role": "user", "content": "What is the capital of France? Answer in JSON."}]
    )
    r = run(default_engine.generate, prompt, SamplingParams(max_tokens=48, json_schema=schema))
    obj = json.loads(r.text)
    assert r.finish_reason == "stop"
    assert set(obj) == {"city", "is_capital"}
    assert isinstance(obj["city"], str) and len(obj["city"]) <= 20
    assert isinstance(obj["is_capital"], bool)
