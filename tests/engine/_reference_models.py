"""Random small HF models for oracle tests (transformers is a test-only dependency)."""

from __future__ import annotations

import pathlib
from typing import Any

import torch


def make_hf_model(arch: str = "llama", **overrides: Any) -> Any:
    """A random fp32 ``LlamaForCausalLM`` (or ``Qwen2ForCausalLM``) with 64-wide heads."""
    import transformers

    kw: dict[str, Any] = dict(
        vocab_size=288,
        hidden_size=128,
        intermediate_size=192,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
    )
    kw.update(overrides)
    torch.manual_seed(0)
    model: Any
    if arch == "qwen2":
        model = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**kw))
    else:
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**kw))
    with torch.no_grad():  # larger-than-default weights so errors would show
        for p in model.parameters():
            p.normal_(0, 0.1)
    return model.float().eval()


def hf_logits(model: Any, ids: list[int]) -> torch.Tensor:
    """(T, V) logits of a full forward over ``ids``."""
    with torch.no_grad():
        out: torch.Tensor = model(torch.tensor([ids])).logits[0]
        return out.float()


def save_hf(model: Any, path: pathlib.Path) -> pathlib.Path:
    """Save as a safetensors folder."""
    model.save_pretrained(path, safe_serialization=True)
    return path
