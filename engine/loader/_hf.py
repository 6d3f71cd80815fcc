"""Hugging Face folders: ``config.json``, ``*.safetensors`` (sharded or not), ``tokenizer.json``."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import torch

from engine._config import ModelConfig, RopeScaling
from engine._errors import ModelLoadError, UnsupportedModelError
from engine.kernels import QWeight

__all__ = ["HFFolder"]

_ARCHS = {"llama", "mistral", "qwen2", "smollm2"}
# HF parameter name -> GGUF name (the builder's vocabulary).
_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_TOP_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


def _gguf_name(hf: str) -> str | None:
    if hf in _TOP_NAMES:
        return _TOP_NAMES[hf]
    parts = hf.split(".", 3)  # model.layers.{i}.rest
    if len(parts) == 4 and parts[1] == "layers" and parts[3] in _LAYER_NAMES:
        return f"blk.{parts[2]}.{_LAYER_NAMES[parts[3]]}"
    return None


def _rope_scaling(raw: dict[str, Any] | None) -> RopeScaling | None:
    if not raw:
        return None
    kind = raw.get("rope_type", raw.get("type", "default"))
    if kind == "default":
        return None
    return RopeScaling(
        kind=kind,
        factor=float(raw["factor"]),
        low_freq_factor=float(raw.get("low_freq_factor", 1.0)),
        high_freq_factor=float(raw.get("high_freq_factor", 4.0)),
        original_max_position_embeddings=int(raw.get("original_max_position_embeddings", 8192)),
    )


def config_from_hf(c: dict[str, Any]) -> ModelConfig:
    """Translate an HF ``config.json`` dict to a `ModelConfig`."""
    arch = c.get("model_type", "llama")
    if arch not in _ARCHS:
        raise UnsupportedModelError(f"model_type {arch!r} is not supported ({sorted(_ARCHS)})")
    rope = c.get("rope_parameters") or {}
    n_heads = int(c["num_attention_heads"])
    eos = c.get("eos_token_id")
    eos_ids = tuple(eos) if isinstance(eos, list) else (() if eos is None else (int(eos),))
    return ModelConfig(
        vocab_size=int(c["vocab_size"]),
        dim=int(c["hidden_size"]),
        n_layers=int(c["num_hidden_layers"]),
        n_heads=n_heads,
        n_kv_heads=int(c.get("num_key_value_heads") or n_heads),
        head_dim=int(c.get("head_dim") or c["hidden_size"] // n_heads),
        hidden_dim=int(c["intermediate_size"]),
        norm_eps=float(c.get("rms_norm_eps", 1e-6)),
        rope_theta=float(c.get("rope_theta", rope.get("rope_theta", 10000.0))),
        rope_scaling=_rope_scaling(c.get("rope_scaling") or rope),
        max_seq_len=int(c.get("max_position_embeddings", 2048)),
        tie_embeddings=bool(c.get("tie_word_embeddings", False)),
        qkv_bias=arch == "qwen2" or bool(c.get("attention_bias", False)),
        bos_token_id=c.get("bos_token_id"),
        eos_token_ids=eos_ids,
        arch=arch,
    )


class HFFolder:
    """A Hugging Face model folder, read with ``safetensors`` (weights expanded to f32).

    Raises:
        ModelLoadError: missing ``config.json`` or weights, or unreadable files.
    """

    def __init__(self, path: str | pathlib.Path) -> None:
        """Read the config and the weights (all shards)."""
        from safetensors import safe_open

        self.path = pathlib.Path(path)
        try:
            self.raw_config = json.loads((self.path / "config.json").read_text())
        except (OSError, ValueError) as e:
            raise ModelLoadError(f"cannot read {self.path}/config.json: {e}", path=str(path)) from e
        self.config = config_from_hf(self.raw_config)
        files = sorted(self.path.glob("*.safetensors"))
        if not files:
            raise ModelLoadError(f"no *.safetensors in {self.path}", path=str(path))
        self._tensors: dict[str, torch.Tensor] = {}
        try:
            for f in files:
                with safe_open(str(f), framework="pt") as st:
                    for name in st.keys():  # noqa: SIM118 (safe_open is not a mapping)
                        gname = _gguf_name(name)
                        if gname is not None:
                            self._tensors[gname] = st.get_tensor(name).float()
        except Exception as e:  # safetensors raises its own SafetensorError
            raise ModelLoadError(f"cannot read safetensors in {self.path}: {e}") from e

    def get(self, name: str) -> QWeight | None:
        """The tensor ``name`` (GGUF naming) as an f32 QWeight, or None when absent."""
        t = self._tensors.get(name)
        if t is None:
            return None
        return QWeight.from_float(t if t.dim() == 2 else t.reshape(1, -1))

    def tokenizer_json(self) -> str | None:
        """Contents of ``tokenizer.json``, if present."""
        p = self.path / "tokenizer.json"
        return p.read_text() if p.exists() else None

    def tokenizer_config(self) -> dict[str, Any]:
        """Contents of ``tokenizer_config.json`` (or ``{}``)."""
        p = self.path / "tokenizer_config.json"
        return json.loads(p.read_text()) if p.exists() else {}
