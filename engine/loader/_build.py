"""Assemble a `Transformer` from named tensors (GGUF naming), fusing Q/K/V and gate/up."""

from __future__ import annotations

from collections.abc import Callable

import torch

from engine._config import ModelConfig
from engine._errors import ModelLoadError
from engine.kernels import QWeight
from engine.model import LayerWeights, Transformer

__all__ = ["build_transformer", "requantize_q8_0"]

Getter = Callable[[str], QWeight | None]


def requantize_q8_0(w: QWeight) -> QWeight:
    """Re-encode any weight as q8_0 (used when fused parts disagree on format)."""
    import gguf
    import numpy as np

    f = w.dequantize().numpy()  # (N, K)
    blocks = gguf.quants.quantize(f, gguf.GGMLQuantizationType.Q8_0)
    return QWeight.from_blocks("q8_0", torch.from_numpy(np.ascontiguousarray(blocks)), w.shape)


def _fuse(parts: list[QWeight]) -> QWeight:
    """Concatenate along N; parts in different formats are brought to a common one."""
    fmts = {p.fmt for p in parts}
    if len(fmts) > 1:
        if "f32" in fmts:
            parts = [QWeight.from_float(p.dequantize()) for p in parts]
        else:
            parts = [p if p.fmt == "q8_0" else requantize_q8_0(p) for p in parts]
    return QWeight.cat(parts)


def _vector(get: Getter, name: str) -> torch.Tensor:
    w = get(name)
    if w is None:
        raise ModelLoadError(f"tensor {name!r} is missing")
    return w.dequantize().reshape(-1)


def _matrix(get: Getter, name: str) -> QWeight:
    w = get(name)
    if w is None:
        raise ModelLoadError(f"tensor {name!r} is missing")
    return w


def _layer(get: Getter, i: int, cfg: ModelConfig) -> LayerWeights:
    p = f"blk.{i}."
    bias = None
    if cfg.qkv_bias:
        bias = torch.cat([_vector(get, p + f"attn_{n}.bias") for n in "qkv"])
    # pre-fused tensors (from the disk cache) are used as they are, zero-copy
    wqkv = get(p + "attn_qkv.weight") or _fuse(
        [_matrix(get, p + f"attn_{n}.weight") for n in "qkv"]
    )
    w_gate_up = get(p + "ffn_gate_up.weight") or _fuse(
        [_matrix(get, p + "ffn_gate.weight"), _matrix(get, p + "ffn_up.weight")]
    )
    return LayerWeights(
        attn_norm=_vector(get, p + "attn_norm.weight"),
        wqkv=wqkv,
        bqkv=bias,
        wo=_matrix(get, p + "attn_output.weight"),
        ffn_norm=_vector(get, p + "ffn_norm.weight"),
        w_gate_up=w_gate_up,
        w_down=_matrix(get, p + "ffn_down.weight"),
    )


def build_transformer(cfg: ModelConfig, get: Getter, max_seq_len: int) -> Transformer:
    """Build the model from a getter of GGUF-named tensors (``blk.{i}.attn_q.weight`` ...).

    Q and K must already be in HF rotate-half row order.
    """
    embed = _matrix(get, "token_embd.weight")
    head = embed if cfg.tie_embeddings else _matrix(get, "output.weight")
    layers = [_layer(get, i, cfg) for i in range(cfg.n_layers)]
    norm = _vector(get, "output_norm.weight")
    return Transformer(cfg, embed, layers, norm, head, max_seq_len=max_seq_len or None)
