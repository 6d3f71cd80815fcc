"""The C++ ForwardPlan computes exactly what the Python loop over the kernels computes."""

from __future__ import annotations

import pathlib

import pytest
import torch

from engine import Engine, kernels
from engine.kv_cache import KVCache
from engine.model import Transformer

pytestmark = pytest.mark.skipif(kernels.backend() != "cpp", reason="needs the C++ extension")


def _cache(
    m: Transformer, slots: int = 3, length: int = 96, dtype: torch.dtype = torch.float32
) -> KVCache:
    c = m.config
    return KVCache(c.n_layers, slots, c.n_kv_heads, length, c.head_dim, dtype=dtype)


def _ragged_rounds(vocab: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """A prompt-sized chunk, then mixed rounds: decode rows, drafted runs, two slots at once."""
    g = torch.Generator().manual_seed(7)
    toks = torch.randint(0, vocab, (60,), generator=g)
    return [
        (toks[:40], torch.zeros(40, dtype=torch.long), torch.arange(40)),
        (toks[40:45], torch.ones(5, dtype=torch.long), torch.arange(5)),
        (toks[45:46], torch.tensor([0]), torch.tensor([40])),
        (toks[46:52], torch.tensor([1, 1, 1, 0, 0, 2]), torch.tensor([5, 6, 7, 41, 42, 0])),
    ]


def _assert_same(m: Transformer, act_quant: bool, dtype: torch.dtype = torch.float32) -> None:
    assert m._native_plan(_cache(m, dtype=dtype)) is not None
    kernels.set_act_quant(act_quant)
    try:
        # fp16 caches: the plan's own rounding must equal torch's, or the caches differ below
        native, python = _cache(m, dtype=dtype), _cache(m, dtype=dtype)
        for tokens, slots, positions in _ragged_rounds(m.config.vocab_size):
            a = m.forward(tokens, slots, positions, native)
            b = m.forward_python(tokens, slots, positions, python)
            assert torch.equal(a, b)
        for slot, written in ((0, 43), (1, 8), (2, 1)):  # the rest is never-written memory
            used = (slice(None), slot, slice(None), slice(0, written))
            assert torch.equal(native.k[used], python.k[used])
            assert torch.equal(native.v[used], python.v[used])
    finally:
        kernels.set_act_quant(None)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("act_quant", [True, False])
def test_default_model_plan_is_bit_identical_to_the_python_loop(
    default_engine: Engine, act_quant: bool, dtype: torch.dtype
) -> None:
    _assert_same(default_engine.model, act_quant, dtype)


def test_qkv_bias_model_plan_is_bit_identical(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("transformers")
    from engine.loader._build import build_transformer
    from engine.loader._hf import HFFolder
    from tests.engine._reference_models import make_hf_model, save_hf

    path = save_hf(make_hf_model("qwen2", tie_word_embeddings=True), tmp_path / "qwen2")
    folder = HFFolder(path)
    m = build_transformer(folder.config, folder.get, 96)
    assert m.layers[0].bqkv is not None  # the bias path is exercised
    _assert_same(m, act_quant=False)


def test_plan_rejects_rows_outside_the_vocabulary_or_cache(default_engine: Engine) -> None:
    m = default_engine.model
    cache = _cache(m, slots=1, length=8)
    one = torch.tensor([0])
    with pytest.raises(IndexError, match="vocabulary"):
        m.forward(torch.tensor([m.config.vocab_size]), one, one, cache)
    with pytest.raises(IndexError, match="outside the cache"):
        m.forward(one, torch.tensor([1]), one, cache)
    with pytest.raises(IndexError, match="outside the cache"):
        m.forward(one, one, torch.tensor([8]), cache)
    with pytest.raises(IndexError, match="logit row"):
        m.forward(one, one, one, cache, torch.tensor([1]))


@pytest.mark.parametrize("native", [True, False])
def test_logit_rows_are_exactly_the_selected_rows(default_engine: Engine, native: bool) -> None:
    """Skipping the head for unread rows changes nothing else: same logits, same cache."""
    m = default_engine.model
    tokens, slots, positions = _ragged_rounds(m.config.vocab_size)[0]  # a 40-row prompt chunk
    forward = m.forward if native else m.forward_python
    full_cache, some_cache = _cache(m), _cache(m)
    full = forward(tokens, slots, positions, full_cache)
    pick = torch.tensor([39, 0, 17])
    some = forward(tokens, slots, positions, some_cache, pick)
    assert some.shape == (3, m.config.vocab_size)
    assert torch.equal(some, full[pick])
    used = (slice(None), 0, slice(None), slice(0, 40))  # the rest is never-written memory
    assert torch.equal(some_cache.k[used], full_cache.k[used])
    assert torch.equal(some_cache.v[used], full_cache.v[used])
    none = forward(tokens, slots, positions, _cache(m), torch.tensor([], dtype=torch.long))
    assert none.shape == (0, m.config.vocab_size)


def test_chunked_prefill_is_the_ragged_forward_bit_for_bit(default_engine: Engine) -> None:
    """Chunks of PREFILL_CHUNK rows (the head on the last row only) change no bit."""
    from engine.model import PREFILL_CHUNK

    m = default_engine.model
    n = PREFILL_CHUNK + 37  # two chunks, the second one partial
    g = torch.Generator().manual_seed(11)
    tokens = torch.randint(0, m.config.vocab_size, (n,), generator=g)
    rows = (tokens, torch.zeros(n, dtype=torch.long), torch.arange(n))
    full = m.forward(*rows, _cache(m, slots=1, length=n + 8))
    every = m.prefill(tokens, 0, 0, _cache(m, slots=1, length=n + 8), all_logits=True)
    last = m.prefill(tokens, 0, 0, _cache(m, slots=1, length=n + 8))
    assert torch.equal(every, full)
    assert last.shape == (1, m.config.vocab_size) and torch.equal(last[0], full[-1])
