"""Assemble a `Transformer` from named tensors (GGUF naming), fusing Q/K/V and gate/up."""

from __future__ import annotations

from collections.abc import Callable

import torch

from engine._config import ModelConfig
from engine._errors import ModelFormatError
from engine.kernels import QWeight
from engine.loader._validate import check_weight, expected_shapes
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


class _Weights:
    """A getter whose every tensor is checked against the shape the config gives it."""

    def __init__(self, cfg: ModelConfig, get: Getter) -> None:
        self._get = get
        self.shapes = expected_shapes(cfg)
        qkv = (cfg.n_heads + 2 * cfg.n_kv_heads) * cfg.head_dim
        for i in range(cfg.n_layers):  # the disk cache's pre-fused matrices
            self.shapes[f"blk.{i}.attn_qkv.weight"] = (qkv, cfg.dim)
            self.shapes[f"blk.{i}.ffn_gate_up.weight"] = (2 * cfg.hidden_dim, cfg.dim)

    def optional(self, name: str) -> QWeight | None:
        w = self._get(name)
        if w is not None:
            check_weight(name, w, self.shapes[name])
        return w

    def matrix(self, name: str) -> QWeight:
        w = self.optional(name)
        if w is None:
            raise ModelFormatError(f"tensor {name!r} is missing", field=name)
        return w

    def vector(self, name: str) -> torch.Tensor:
        return self.matrix(name).dequantize().reshape(-1)


def _layer(ws: _Weights, i: int, cfg: ModelConfig) -> LayerWeights:
    p = f"blk.{i}."
    bias = None
    if cfg.qkv_bias:
        bias = torch.cat([ws.vector(p + f"attn_{n}.bias") for n in "qkv"])
    # pre-fused tensors (from the disk cache) are used as they are, zero-copy
    wqkv = ws.optional(p + "attn_qkv.weight") or _fuse(
        [ws.matrix(p + f"attn_{n}.weight") for n in "qkv"]
    )
    w_gate_up = ws.optional(p + "ffn_gate_up.weight") or _fuse(
        [ws.matrix(p + "ffn_gate.weight"), ws.matrix(p + "ffn_up.weight")]
    )
    return LayerWeights(
        attn_norm=ws.vector(p + "attn_norm.weight"),
        wqkv=wqkv,
        bqkv=bias,
        wo=ws.matrix(p + "attn_output.weight"),
        ffn_norm=ws.vector(p + "ffn_norm.weight"),
        w_gate_up=w_gate_up,
        w_down=ws.matrix(p + "ffn_down.weight"),
    )


def build_transformer(cfg: ModelConfig, get: Getter, max_seq_len: int) -> Transformer:
    """Build the model from a getter of GGUF-named tensors (``blk.{i}.attn_q.weight`` ...).

    Q and K must already be in HF rotate-half row order. Every tensor is
    checked against the shape ``cfg`` gives it before it is used.

    Raises:
        ModelFormatError: a tensor missing, or its shape or storage size wrong.
    """
    ws = _Weights(cfg, get)
    embed = ws.matrix("token_embd.weight")
    head = embed if cfg.tie_embeddings else ws.matrix("output.weight")
    layers = [_layer(ws, i, cfg) for i in range(cfg.n_layers)]
    norm = ws.vector("output_norm.weight")
    return Transformer(cfg, embed, layers, norm, head, max_seq_len=max_seq_len or None)
