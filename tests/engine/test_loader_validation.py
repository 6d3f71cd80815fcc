"""Crafted checkpoints get a typed `ModelLoadError`, never a crash or a bare KeyError.

Each case breaks one thing in the tiny model of `_tiny_gguf` (a GGUF written
byte by byte, or an HF folder). Before these checks, ``n_heads=0`` raised
ZeroDivisionError, a missing key KeyError, and an embedding wider than the
model loaded fine and then wrote past a heap buffer in the C++ forward.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Callable

import numpy as np
import pytest
import torch

from engine import ModelFormatError, ModelLoadError, UnsupportedModelError
from engine.kv_cache import KVCache
from engine.loader import LoadedModel, load_model
from tests.engine._tiny_gguf import (
    ARR,
    DH,
    F32,
    I32,
    STR,
    T_F32,
    T_Q8_0,
    U32,
    U64,
    D,
    Spec,
    Tensor,
    V,
    byte_vocab,
    serialize,
    tiny_spec,
    write_spec,
)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Index the throwaway files in a private dir (not the env var: the kernels use it too)."""
    root = tmp_path / "cache"
    root.mkdir()
    monkeypatch.setattr("engine.loader._gguf.cache_dir", lambda: root)


def _forward(m: LoadedModel) -> torch.Tensor:
    c = m.config
    cache = KVCache(c.n_layers, 1, c.n_kv_heads, 32, c.head_dim)
    t = 16
    tokens = torch.arange(c.vocab_size - t, c.vocab_size)  # the last rows: overreads show
    return m.model.forward(tokens, torch.zeros(t, dtype=torch.long), torch.arange(t), cache)


def _wide(spec: Spec, name: str, extra: int) -> Spec:
    """``name`` with ``extra`` more columns (F32), as a crafted file would have it."""
    t = spec.tensor(name)
    shape = [t.shape[0], t.shape[1] + extra]
    spec.tensors[spec.tensors.index(t)] = Tensor(
        name, shape, T_F32, np.zeros(shape, np.float32).tobytes()
    )
    return spec


MUTATIONS: dict[str, tuple[Callable[[Spec], Spec], type[Exception], str | None]] = {
    "n_heads zero": (
        lambda s: s.set("llama.attention.head_count", U32, 0),
        ModelFormatError,
        "head_count",
    ),
    "key missing": (
        lambda s: s.drop("llama.embedding_length"),
        ModelFormatError,
        "embedding_length",
    ),
    "negative dim": (
        lambda s: s.set("llama.feed_forward_length", I32, -64),
        ModelFormatError,
        "hidden_dim",
    ),
    "huge layers": (
        lambda s: s.set("llama.block_count", U64, 1 << 40),
        ModelFormatError,
        "n_layers",
    ),
    "heads do not split dim": (
        lambda s: s.set("llama.attention.head_count", U32, 3),
        ModelFormatError,
        "multiple",
    ),
    "kv heads do not group": (
        lambda s: s.set("llama.attention.head_count_kv", U32, 3),
        ModelFormatError,
        "n_kv_heads",
    ),
    "absurd context": (
        lambda s: s.set("llama.context_length", U64, 1 << 40),
        ModelFormatError,
        "max_seq_len",
    ),
    "nan epsilon": (
        lambda s: s.set("llama.attention.layer_norm_rms_epsilon", F32, math.nan),
        ModelFormatError,
        "epsilon",
    ),
    "inf rope theta": (
        lambda s: s.set("llama.rope.freq_base", F32, math.inf),
        ModelFormatError,
        "freq_base",
    ),
    "huge rope theta": (
        lambda s: s.set("llama.rope.freq_base", F32, 1e30),
        ModelFormatError,
        "rope_theta",
    ),
    "string for a count": (
        lambda s: s.set("llama.block_count", STR, "1"),
        ModelFormatError,
        "block_count",
    ),
    "array for a count": (
        lambda s: s.set("llama.block_count", ARR, (U32, [1])),
        ModelFormatError,
        "block_count",
    ),
    "architecture not a string": (
        lambda s: s.set("general.architecture", U32, 7),
        ModelFormatError,
        "architecture",
    ),
    "vocab key vs embedding": (
        lambda s: s.set("llama.vocab_size", U32, V + 8),
        ModelFormatError,
        "token_embd",
    ),
    "tokenizer larger than embedding": (
        lambda s: s.set("tokenizer.ggml.tokens", ARR, (STR, byte_vocab(V + 8))).set(
            "tokenizer.ggml.token_type", ARR, (I32, [1] * (V + 8))
        ),
        ModelFormatError,
        "token",
    ),
    "token types not one per token": (
        lambda s: s.set("tokenizer.ggml.token_type", ARR, (I32, [1])),
        ModelFormatError,
        "token_type",
    ),
    "no tokens": (
        lambda s: (
            s.drop("tokenizer.ggml.tokens")
            .drop("tokenizer.ggml.token_type")
            .set("llama.vocab_size", U32, V)
        ),
        ModelFormatError,
        "tokens",
    ),
    "eos outside vocab": (
        lambda s: s.set("tokenizer.ggml.eos_token_id", U32, V + 5),
        ModelFormatError,
        "token id",
    ),
    "embedding wider than dim": (
        lambda s: _wide(s, "token_embd.weight", 64 * D),
        ModelFormatError,
        "token_embd",
    ),
    "head wider than dim": (
        lambda s: _wide(s, "output.weight", 32),
        ModelFormatError,
        "output.weight",
    ),
    "q projection wider": (
        lambda s: _wide(s, "blk.0.attn_q.weight", 32),
        ModelFormatError,
        "attn_q",
    ),
    "tensor missing": (
        lambda s: Spec(s.kv, [t for t in s.tensors if t.name != "blk.0.ffn_up.weight"]),
        ModelFormatError,
        "ffn_up",
    ),
    "block past block_count": (
        lambda s: Spec(
            s.kv, [*s.tensors, Tensor("blk.1.attn_norm.weight", [D], T_F32, bytes(4 * D))]
        ),
        ModelFormatError,
        "blk.1",
    ),
    "norm of the wrong length": (
        lambda s: Spec(
            s.kv,
            [
                t
                if t.name != "output_norm.weight"
                else Tensor(t.name, [D // 2], T_F32, bytes(2 * D))
                for t in s.tensors
            ],
        ),
        ModelFormatError,
        "output_norm",
    ),
    "matrix with a third dim": (
        lambda s: Spec(
            s.kv,
            [
                t
                if t.name != "blk.0.ffn_down.weight"
                else Tensor(t.name, [1, *t.shape], t.qtype, t.data)
                for t in s.tensors
            ],
        ),
        ModelFormatError,
        "ffn_down",
    ),
    "unknown tensor type": (
        lambda s: Spec(
            s.kv,
            [
                t if t.name != "blk.0.ffn_down.weight" else Tensor(t.name, t.shape, 99, t.data)
                for t in s.tensors
            ],
        ),
        ModelLoadError,
        None,
    ),
    "integer tensor type": (
        lambda s: Spec(
            s.kv,
            [
                t if t.name != "blk.0.attn_norm.weight" else Tensor(t.name, t.shape, 26, t.data)
                for t in s.tensors
            ],
        ),
        UnsupportedModelError,
        "I32",
    ),
    "broken chat template": (
        lambda s: s.set("tokenizer.chat_template", STR, "{% for %}"),
        ModelFormatError,
        "template",
    ),
    "unsupported architecture": (
        lambda s: s.set("general.architecture", STR, "mamba"),
        UnsupportedModelError,
        "mamba",
    ),
    "bad magic": (lambda s: Spec(s.kv, s.tensors, magic=b"GGUG"), ModelLoadError, "magic"),
    "tensor count lies": (
        lambda s: Spec(s.kv, s.tensors, extra_tensor_count=3),
        ModelLoadError,
        None,
    ),
    "kv count lies": (
        lambda s: Spec(s.kv, s.tensors, extra_kv_count=1 << 40),
        ModelLoadError,
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_crafted_gguf_raises_a_typed_error(tmp_path: pathlib.Path, case: str) -> None:
    mutate, error, match = MUTATIONS[case]
    path = write_spec(tmp_path / "m.gguf", mutate(tiny_spec()))
    with pytest.raises(error, match=match):
        load_model(path, 32)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9, 0.999])
def test_truncated_gguf_raises_a_typed_error(tmp_path: pathlib.Path, keep: float) -> None:
    data = serialize(tiny_spec())
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelLoadError):
        load_model(path, 32)


def test_the_untouched_tiny_model_loads_and_runs(tmp_path: pathlib.Path) -> None:
    """The control: every case above differs from a file that loads."""
    m = load_model(write_spec(tmp_path / "m.gguf", tiny_spec()), 32)
    assert _forward(m).shape == (16, V)
    assert m.config.head_dim == DH


def test_error_names_the_field(tmp_path: pathlib.Path) -> None:
    path = write_spec(tmp_path / "m.gguf", tiny_spec().drop("llama.block_count"))
    with pytest.raises(ModelFormatError) as info:
        load_model(path, 32)
    assert info.value.field == "llama.block_count"


def test_forward_plan_refuses_an_embedding_wider_than_the_model() -> None:
    """The C++ plan checks shapes itself (a model built without the loader's checks)."""
    from engine import ModelConfig, kernels
    from engine.kernels import QWeight
    from engine.model import LayerWeights, Transformer

    if kernels.backend() != "cpp":
        pytest.skip("the C++ backend is off")
    cfg = ModelConfig(vocab_size=64, dim=32, n_layers=1, n_heads=2, n_kv_heads=1, head_dim=16,
                      hidden_dim=32, max_seq_len=16)  # fmt: skip

    def w(*shape: int) -> QWeight:
        return QWeight.from_float(torch.zeros(*shape))

    lw = LayerWeights(torch.ones(32), w(64, 32), None, w(32, 32), torch.ones(32), w(64, 32),
                      w(32, 32))  # fmt: skip
    good = Transformer(cfg, w(64, 32), [lw], torch.ones(32), w(64, 32))
    assert kernels.forward_plan(good) is not None
    wide = Transformer(cfg, w(64, 32 * 8), [lw], torch.ones(32), w(64, 32))
    with pytest.raises(ModelFormatError, match="embedding"):
        kernels.forward_plan(wide)
    short_norm = Transformer(cfg, w(64, 32), [lw], torch.ones(16), w(64, 32))
    with pytest.raises(ModelFormatError, match="final norm"):
        kernels.forward_plan(short_norm)
    short = QWeight("f32", (64, 32), torch.zeros(64, 16))  # half the storage its shape needs
    bad_bytes = LayerWeights(torch.ones(32), short, None, w(32, 32), torch.ones(32), w(64, 32),
                             w(32, 32))  # fmt: skip
    with pytest.raises(ModelFormatError, match="wqkv storage"):
        kernels.forward_plan(Transformer(cfg, w(64, 32), [bad_bytes], torch.ones(32), w(64, 32)))


def test_q8_model_matches_f32_model_after_checks(tmp_path: pathlib.Path) -> None:
    """The checks change no numbers: both storages of one model agree to quantization error."""
    a = _forward(load_model(write_spec(tmp_path / "a.gguf", tiny_spec(T_F32)), 32))
    b = _forward(load_model(write_spec(tmp_path / "b.gguf", tiny_spec(T_Q8_0)), 32))
    assert (a - b).abs().max() < 0.05
