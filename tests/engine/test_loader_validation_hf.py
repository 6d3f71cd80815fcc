"""Crafted Hugging Face folders get a typed `ModelLoadError` (see test_loader_validation)."""

from __future__ import annotations

import math
import pathlib
from collections.abc import Callable

import numpy as np
import pytest
import torch

from engine import ModelFormatError, UnsupportedModelError
from engine.kv_cache import KVCache
from engine.loader import load_model
from tests.engine._tiny_gguf import D, HFParts, V, tiny_hf_folder, tokenizer_json

HF_MUTATIONS: dict[str, tuple[Callable[[HFParts], None], type[Exception], str]] = {
    "n_heads zero": (
        lambda p: p.config.update(num_attention_heads=0),
        ModelFormatError,
        "num_attention_heads",
    ),
    "key missing": (lambda p: p.config.pop("hidden_size"), ModelFormatError, "hidden_size"),
    "string for a count": (
        lambda p: p.config.update(num_hidden_layers="1"),
        ModelFormatError,
        "num_hidden_layers",
    ),
    "nan epsilon": (
        lambda p: p.config.update(rms_norm_eps=math.nan),
        ModelFormatError,
        "rms_norm_eps",
    ),
    "absurd context": (
        lambda p: p.config.update(max_position_embeddings=1 << 40),
        ModelFormatError,
        "max_seq_len",
    ),
    "kv heads do not group": (
        lambda p: p.config.update(num_key_value_heads=3),
        ModelFormatError,
        "n_kv_heads",
    ),
    "llama3 scaling divides by zero": (
        lambda p: p.config.update(
            rope_scaling={
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 1.0,
            }
        ),
        ModelFormatError,
        "high_freq_factor",
    ),
    "model_type a list": (
        lambda p: p.config.update(model_type=["llama"]),
        UnsupportedModelError,
        "model_type",
    ),
    "embedding wider than dim": (
        lambda p: p.weights.update({"token_embd.weight": np.zeros((V, 4 * D), np.float32)}),
        ModelFormatError,
        "token_embd",
    ),
    "tensor missing": (lambda p: p.weights.pop("blk.0.ffn_up.weight"), ModelFormatError, "ffn_up"),
    "tokenizer larger than embedding": (
        lambda p: setattr(p, "tokenizer", tokenizer_json(V + 8)),
        ModelFormatError,
        "tokenizer",
    ),
    "tokenizer not json": (
        lambda p: setattr(p, "tokenizer", "{not json"),
        ModelFormatError,
        "tokenizer",
    ),
}


@pytest.mark.parametrize("case", sorted(HF_MUTATIONS))
def test_crafted_hf_folder_raises_a_typed_error(tmp_path: pathlib.Path, case: str) -> None:
    mutate, error, match = HF_MUTATIONS[case]
    parts = HFParts()
    mutate(parts)
    with pytest.raises(error, match=match):
        load_model(tiny_hf_folder(tmp_path / "hf", parts), 32)


def test_the_untouched_hf_folder_loads_and_runs(tmp_path: pathlib.Path) -> None:
    m = load_model(tiny_hf_folder(tmp_path / "hf"), 32)
    c = m.config
    cache = KVCache(c.n_layers, 1, c.n_kv_heads, 32, c.head_dim)
    logits = m.model.forward(
        torch.arange(8), torch.zeros(8, dtype=torch.long), torch.arange(8), cache
    )
    assert logits.shape == (8, V)
