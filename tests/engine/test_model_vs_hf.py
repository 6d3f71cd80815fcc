"""Our transformer equals Hugging Face's on random weights, through our loaders."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import torch

from engine.kv_cache import KVCache
from engine.loader._build import build_transformer
from engine.loader._hf import HFFolder
from engine.model import Transformer
from tests.engine._reference_models import hf_logits, make_hf_model, save_hf

pytest.importorskip("transformers")

IDS = [5, 17, 200, 3, 99, 42, 7, 7, 150, 280, 1, 64]


def _load(path: pathlib.Path) -> Transformer:
    folder = HFFolder(path)
    return build_transformer(folder.config, folder.get, 64)


def _cache(m: Transformer) -> KVCache:
    c = m.config
    return KVCache(c.n_layers, 2, c.n_kv_heads, 64, c.head_dim)


def _token_by_token(m: Transformer, ids: list[int]) -> torch.Tensor:
    cache = _cache(m)
    rows = [
        m.forward(torch.tensor([t]), torch.tensor([1]), torch.tensor([i]), cache)[0]
        for i, t in enumerate(ids)
    ]
    return torch.stack(rows)


CASES: list[tuple[str, dict[str, Any]]] = [
    ("llama", {}),
    ("llama", {"tie_word_embeddings": True, "num_key_value_heads": 4}),
    ("llama", {"num_key_value_heads": 1}),
    (
        "llama",
        {
            "rope_scaling": {
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
            }
        },
    ),
    ("qwen2", {"tie_word_embeddings": True}),
]


@pytest.mark.parametrize(("arch", "overrides"), CASES)
def test_logits_match_transformers(
    tmp_path: pathlib.Path, arch: str, overrides: dict[str, Any]
) -> None:
    hf = make_hf_model(arch, **overrides)
    ref = hf_logits(hf, IDS)  # (T, V)
    m = _load(save_hf(hf, tmp_path / "m"))
    assert m.config.tie_embeddings == bool(overrides.get("tie_word_embeddings", False))
    stepwise = _token_by_token(m, IDS)
    cache = _cache(m)
    dense = m.prefill(torch.tensor(IDS), 0, 0, cache, all_logits=True, dense=True)
    chunked = m.prefill(torch.tensor(IDS), 0, 0, _cache(m), all_logits=True, dense=False)
    assert (stepwise - ref).abs().max() < 1e-4
    assert (dense - ref).abs().max() < 1e-4
    assert (chunked - ref).abs().max() < 1e-4


def test_prefill_then_decode_continues_the_cache(tmp_path: pathlib.Path) -> None:
    hf = make_hf_model()
    ref = hf_logits(hf, IDS)
    m = _load(save_hf(hf, tmp_path / "m"))
    cache = _cache(m)
    m.prefill(torch.tensor(IDS[:5]), 1, 0, cache)
    rest = m.prefill(torch.tensor(IDS[5:9]), 1, 5, cache, all_logits=True)
    assert (rest - ref[5:9]).abs().max() < 1e-4
    last = m.forward(torch.tensor(IDS[9:]), torch.tensor([1] * 3), torch.arange(9, 12), cache)
    assert (last - ref[9:]).abs().max() < 1e-4
