"""Hugging Face folders: ``config.json``, ``*.safetensors`` (sharded or not), ``tokenizer.json``."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import torch
from tokenizers import Tokenizer

from engine._config import ModelConfig, RopeScaling
from engine._errors import ModelFormatError, ModelLoadError, UnsupportedModelError
from engine.kernels import QWeight
from engine.loader._fields import MISSING, field_float, field_int

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


def _present(c: dict[str, Any], key: str, default: object = MISSING) -> object:
    """``c[key]``, with a JSON ``null`` counting as absent."""
    value = c.get(key)
    return default if value is None else value


def _rope_scaling(raw: object) -> RopeScaling | None:
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise ModelFormatError(
            f"rope_scaling must be an object, got {raw!r:.80}", field="rope_scaling"
        )
    kind = raw.get("rope_type", raw.get("type", "default"))
    if kind == "default":
        return None
    if not isinstance(kind, str):
        raise ModelFormatError(
            f"rope_scaling type must be a string, got {kind!r:.80}", field="rope_type"
        )
    return RopeScaling(
        kind=kind,
        factor=field_float(raw, "factor"),
        low_freq_factor=field_float(raw, "low_freq_factor", 1.0),
        high_freq_factor=field_float(raw, "high_freq_factor", 4.0),
        original_max_position_embeddings=field_int(raw, "original_max_position_embeddings", 8192),
    )


def _token_ids(value: object, key: str) -> tuple[int, ...]:
    ids = value if isinstance(value, list) else ([] if value is None else [value])
    return tuple(field_int({key: i}, key) for i in ids)


def config_from_hf(c: dict[str, Any]) -> ModelConfig:
    """Translate an HF ``config.json`` dict to a `ModelConfig`.

    Raises:
        ModelFormatError: a missing, mistyped or out-of-range value.
        UnsupportedModelError: a model type or RoPE scaling we do not run.
    """
    if not isinstance(c, dict):
        raise ModelFormatError("config.json must hold an object")
    arch = c.get("model_type", "llama")
    if not isinstance(arch, str) or arch not in _ARCHS:
        raise UnsupportedModelError(f"model_type {arch!r:.80} is not supported ({sorted(_ARCHS)})")
    rope = c.get("rope_parameters") or {}
    if not isinstance(rope, dict):
        raise ModelFormatError("rope_parameters must be an object", field="rope_parameters")
    n_heads = field_int(c, "num_attention_heads")
    dim = field_int(c, "hidden_size")
    if c.get("head_dim") is None and (n_heads <= 0 or dim % n_heads):
        msg = f"hidden_size {dim} is not a multiple of num_attention_heads {n_heads}"
        raise ModelFormatError(msg, field="num_attention_heads")
    theta = field_float(rope, "rope_theta", 10000.0)
    bos = _token_ids(c.get("bos_token_id"), "bos_token_id")
    return ModelConfig(
        vocab_size=field_int(c, "vocab_size"),
        dim=dim,
        n_layers=field_int(c, "num_hidden_layers"),
        n_heads=n_heads,
        n_kv_heads=field_int(c, "num_key_value_heads", _present(c, "num_key_value_heads", n_heads)),
        head_dim=field_int(c, "head_dim", _present(c, "head_dim", dim // max(n_heads, 1))),
        hidden_dim=field_int(c, "intermediate_size"),
        norm_eps=field_float(c, "rms_norm_eps", 1e-6),
        rope_theta=field_float(c, "rope_theta", theta),
        rope_scaling=_rope_scaling(c.get("rope_scaling") or rope),
        max_seq_len=field_int(c, "max_position_embeddings", 2048),
        tie_embeddings=bool(c.get("tie_word_embeddings", False)),
        qkv_bias=arch == "qwen2" or bool(c.get("attention_bias", False)),
        bos_token_id=bos[0] if len(bos) == 1 else None,
        eos_token_ids=_token_ids(c.get("eos_token_id"), "eos_token_id"),
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
        """The tensor ``name`` (GGUF naming) as an f32 QWeight, or None when absent.

        Raises:
            ModelFormatError: the tensor is neither a vector nor a matrix.
        """
        t = self._tensors.get(name)
        if t is None:
            return None
        if t.dim() not in (1, 2):
            raise ModelFormatError(f"tensor {name!r} has {t.dim()} dimensions", field=name)
        return QWeight.from_float(t if t.dim() == 2 else t.reshape(1, -1))

    def _read(self, name: str) -> str | None:
        p = self.path / name
        if not p.exists():
            return None
        try:
            return p.read_text(encoding="utf-8")
        except (OSError, ValueError) as e:  # unreadable, or not UTF-8
            raise ModelLoadError(f"cannot read {p}: {e}", path=str(p)) from e

    def tokenizer(self) -> Tokenizer:
        """The folder's ``tokenizer.json``, checked against the embedding's size.

        Raises:
            ModelLoadError: no ``tokenizer.json``.
            ModelFormatError: it does not parse, or holds more tokens than the embedding.
        """
        text = self._read("tokenizer.json")
        if text is None:
            raise ModelLoadError(f"no tokenizer.json in {self.path}", path=str(self.path))
        try:
            tok = Tokenizer.from_str(text)
        except Exception as e:  # tokenizers raises its own Exception subclass
            raise ModelFormatError(f"tokenizer.json is invalid: {e}", field="tokenizer") from e
        n = tok.get_vocab_size(with_added_tokens=True)
        if n > self.config.vocab_size:
            msg = f"the tokenizer has {n} tokens, the embedding {self.config.vocab_size} rows"
            raise ModelFormatError(msg, path=str(self.path), field="vocab_size")
        return tok

    def tokenizer_config(self) -> dict[str, Any]:
        """Contents of ``tokenizer_config.json`` (or ``{}``).

        Raises:
            ModelFormatError: not a JSON object.
        """
        text = self._read("tokenizer_config.json")
        try:
            tc = {} if text is None else json.loads(text)
        except ValueError as e:
            raise ModelFormatError(f"tokenizer_config.json is not JSON: {e}") from e
        if not isinstance(tc, dict):
            raise ModelFormatError("tokenizer_config.json must hold an object")
        return tc
