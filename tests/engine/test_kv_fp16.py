"""fp16 KV-cache storage: widened on load, rounded like torch on store, close to fp32."""

from __future__ import annotations

import pytest
import torch

from engine import Engine, EngineError, kernels
from engine.kernels import _reference
from engine.kv_cache import KVCache

needs_cpp = pytest.mark.skipif(kernels.backend() != "cpp", reason="needs the C++ extension")


def _random_case(
    seed: int, d: int = 64
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """q (5, 6, d) over fp16 caches (3 slots, 2 KV heads, 40 positions), ragged rows."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(5, 6, d, generator=g)
    k = (torch.randn(3, 2, 40, d, generator=g) * 4).half()
    v = (torch.randn(3, 2, 40, d, generator=g) * 4).half()
    slots = torch.tensor([0, 0, 1, 2, 2])
    positions = torch.tensor([0, 17, 39, 3, 38])
    return q, k, v, slots, positions


@needs_cpp
@pytest.mark.parametrize("d", [64, 128, 40])  # 40: the portable path
def test_fp16_attention_is_the_fp32_kernel_on_the_widened_cache(d: int) -> None:
    q, k, v, slots, positions = _random_case(1, d)
    out16 = kernels.attention(q, k, v, slots, positions)
    out32 = kernels.attention(q, k.float(), v.float(), slots, positions)
    assert torch.equal(out16, out32)  # the load widens; nothing after it differs
    ref = _reference.attention(q, k, v, slots, positions)
    assert (out16 - ref).abs().max() < 1e-4


@needs_cpp
def test_attention_refuses_mixed_cache_dtypes() -> None:
    q, k, v, slots, positions = _random_case(2)
    with pytest.raises(ValueError, match="float32 or float16 of one dtype"):
        kernels.attention(q, k, v.float(), slots, positions)


def test_cache_write_rounds_to_fp16_storage() -> None:
    cache = KVCache(1, 2, 2, 8, 4, dtype=torch.float16)
    k = torch.tensor([[[1.0001, -3.3, 0.1, 65000.0], [2.0, 2.0, 2.0, 2.0]]])  # (T=1, Hkv, D)
    rows = cache.row_index(torch.tensor([1]), torch.tensor([5]))
    cache.write(0, rows, k, -k)
    assert torch.equal(cache.k[0, 1, :, 5], k[0].half())
    assert torch.equal(cache.v[0, 1, :, 5], (-k[0]).half())


def _teacher_forced(
    e: Engine, seq: torch.Tensor, dtype: torch.dtype, act_quant: bool
) -> torch.Tensor:
    """Logits of every row of ``seq`` through a fresh cache of ``dtype``.

    Called on the test's own thread: the engine's compute thread may be held by
    its scheduler's driver, which other tests started.
    """
    c = e.config
    cache = KVCache(c.n_layers, 1, c.n_kv_heads, seq.shape[0], c.head_dim, dtype=dtype)
    kernels.set_act_quant(act_quant)
    try:
        slots = torch.zeros(seq.shape[0], dtype=torch.long)
        return e.model.forward(seq, slots, torch.arange(seq.shape[0]), cache)
    finally:
        kernels.set_act_quant(None)


def test_fp16_cache_changes_logits_no_more_than_int8_activations_do(
    default_engine: Engine,
) -> None:
    """fp16 storage is a rounding of the same size as the int8 activations the engine already uses.

    Teacher-forced over a chat prompt and an ordinary answer (~150 rows): the
    logits moved by fp16 K/V (against fp32 K/V) move no more than 1.5x what
    int8 activations move them (against fp32 activations), and the greedy
    choice flips on hardly more rows than int8 activations flip it.
    """
    e = default_engine
    prompt = e.render_chat(
        [{"role": "user", "content": "How do vaccines train the immune system?"}]
    )
    answer = (
        " Vaccines show the immune system a harmless piece or copy of a germ, so it learns to"
        " recognise it. B cells make antibodies that fit the germ, and memory cells remain, so"
        " a later infection is met quickly, before it can make you ill. Boosters refresh that"
        " memory when it fades over the years."
    )
    seq = torch.tensor(e.encode(prompt) + e.encode(answer))
    base = _teacher_forced(e, seq, torch.float32, act_quant=True)
    fp16 = _teacher_forced(e, seq, torch.float16, act_quant=True)
    fp32_act = _teacher_forced(e, seq, torch.float32, act_quant=False)
    kv_shift = (fp16 - base).abs().mean()
    act_shift = (fp32_act - base).abs().mean()
    assert 0 < kv_shift <= 1.5 * act_shift
    agree = (fp16.argmax(-1) == base.argmax(-1)).float().mean()
    agree_act = (fp32_act.argmax(-1) == base.argmax(-1)).float().mean()
    # ~100 rows: measured 0.98 (AVX2) and 0.93 (portable kernels), int8's 0.95 and 0.96
    assert agree >= 0.9
    assert agree >= agree_act - 0.05


def test_engine_kv_dtype_default_and_choice() -> None:
    with pytest.raises(EngineError, match="kv_dtype"):
        Engine.load("default", kv_dtype="bfloat16")
    e = Engine.load("default", max_seq_len=64, max_slots=1, speculation=False, kv_dtype="float32")
    try:
        assert e.cache.k.dtype is torch.float32
    finally:
        e.close()


def test_default_engine_stores_fp16(default_engine: Engine) -> None:
    assert default_engine.cache.k.dtype is torch.float16
    assert default_engine.cache.v.dtype is torch.float16
