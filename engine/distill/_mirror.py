"""A plain-torch mirror of the engine's Llama blocks, for batched generation and training.

The engine's `Transformer` runs on row kernels that are exact per row but
neither differentiable nor efficient for many sequences at once. Distillation
needs both: the target generating many prompts in lock-step (dense GEMMs over
a batch of slots) and the draft trained with autograd. `MirrorLlama` holds
fp32 copies of the weights in the engine's fused layout ([q|k|v], [gate|up]),
so a trained draft exports straight back to `engine.speculative._draft_io`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from engine._config import ModelConfig
from engine.model import Transformer

__all__ = ["MirrorLlama"]


def _rms(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (..., T, H, Dh) with cos/sin (..., T, 1, Dh/2): HF rotate-half."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class MirrorBlock(nn.Module):
    """One decoder block with fused projections (engine layout), fp32 parameters."""

    def __init__(self, cfg: ModelConfig, tensors: dict[str, torch.Tensor]) -> None:
        """Copy ``attn_norm, wqkv, wo, ffn_norm, w_gate_up, w_down`` into parameters."""
        super().__init__()
        self.cfg = cfg
        self.attn_norm = nn.Parameter(tensors["attn_norm"].float().clone())
        self.wqkv = nn.Parameter(tensors["wqkv"].float().clone())
        self.wo = nn.Parameter(tensors["wo"].float().clone())
        self.ffn_norm = nn.Parameter(tensors["ffn_norm"].float().clone())
        self.w_gate_up = nn.Parameter(tensors["w_gate_up"].float().clone())
        self.w_down = nn.Parameter(tensors["w_down"].float().clone())
        h, hkv, dh = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.split = (h * dh, hkv * dh, hkv * dh)

    def qkv(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, D) -> rotated q (B, T, H, Dh), k, v (B, T, Hkv, Dh)."""
        c = self.cfg
        b, t, _ = x.shape
        qkv = _rms(x, self.attn_norm, c.norm_eps) @ self.wqkv.t()  # (B, T, (H + 2Hkv)·Dh)
        nq, nk, _ = self.split
        q, k, v = qkv[..., :nq], qkv[..., nq : nq + nk], qkv[..., nq + nk :]
        q = _rope(q.reshape(b, t, c.n_heads, c.head_dim), cos, sin)
        k = _rope(k.reshape(b, t, c.n_kv_heads, c.head_dim), cos, sin)
        return q, k, v.reshape(b, t, c.n_kv_heads, c.head_dim)

    def finish(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Residual adds: x (B, T, D), attention output a (B, H, T, Dh)."""
        x = x + a.transpose(1, 2).flatten(2) @ self.wo.t()  # (B, T, D)
        gate, up = (_rms(x, self.ffn_norm, self.cfg.norm_eps) @ self.w_gate_up.t()).chunk(2, -1)
        return x + (F.silu(gate) * up) @ self.w_down.t()

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Causal self-attention block over whole sequences x (B, T, D) from position 0."""
        q, k, v = self.qkv(x, cos, sin)
        a = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True, enable_gqa=True
        )  # (B, H, T, Dh)
        return self.finish(x, a)


class MirrorLlama(nn.Module):
    """Embedding (frozen) → blocks → final norm → head (frozen, possibly cut).

    Args:
        cfg: the target's config (heads, RoPE, eps).
        blocks: per-block tensors in engine layout.
        norm: (D,) final norm weight.
        embed: (V, D) embedding, frozen.
        head: (K, D) output rows, frozen.
        max_len: RoPE table length.
    """

    embed: torch.Tensor
    head: torch.Tensor
    cos: torch.Tensor
    sin: torch.Tensor

    def __init__(
        self,
        cfg: ModelConfig,
        blocks: Sequence[dict[str, torch.Tensor]],
        norm: torch.Tensor,
        embed: torch.Tensor,
        head: torch.Tensor,
        max_len: int,
    ) -> None:
        """Build parameters (blocks, norm) and frozen buffers (embed, head, RoPE)."""
        super().__init__()
        self.cfg = cfg
        self.blocks = nn.ModuleList(MirrorBlock(cfg, t) for t in blocks)
        self.norm = nn.Parameter(norm.float().clone())
        self.register_buffer("embed", embed.float(), persistent=False)
        self.register_buffer("head", head.float(), persistent=False)
        angles = torch.outer(torch.arange(max_len, dtype=torch.float32), cfg.inv_freq())
        self.register_buffer("cos", angles.cos(), persistent=False)  # (L, Dh/2)
        self.register_buffer("sin", angles.sin(), persistent=False)

    @property
    def block_list(self) -> list[MirrorBlock]:
        """The blocks, typed (``nn.ModuleList`` iterates as plain modules)."""
        return [cast(MirrorBlock, b) for b in self.blocks]

    @staticmethod
    def block_tensors(model: Transformer, i: int) -> dict[str, torch.Tensor]:
        """Block ``i`` of an engine model, expanded to fp32 (engine layout)."""
        lw = model.layers[i]
        return {
            "attn_norm": lw.attn_norm,
            "wqkv": lw.wqkv.dequantize(),
            "wo": lw.wo.dequantize(),
            "ffn_norm": lw.ffn_norm,
            "w_gate_up": lw.w_gate_up.dequantize(),
            "w_down": lw.w_down.dequantize(),
        }

    @classmethod
    def from_transformer(
        cls,
        model: Transformer,
        layer_ids: Sequence[int],
        kept_ids: torch.Tensor | None = None,
        max_len: int = 2048,
    ) -> MirrorLlama:
        """Copy blocks ``layer_ids`` of ``model`` (the whole target, or a draft's init).

        Args:
            model: the engine model to copy from.
            layer_ids: which blocks, in order.
            kept_ids: (K,) cut the head to these token rows; None keeps all.
            max_len: RoPE table length.
        """
        embed = model.embed.dequantize()  # (V, D)
        head = embed if model.head is model.embed else model.head.dequantize()
        if kept_ids is not None:
            head = head[kept_ids]  # (K, D)
        blocks = [cls.block_tensors(model, i) for i in layer_ids]
        return cls(model.config, blocks, model.norm, embed, head, max_len)

    def export_tensors(self) -> dict[str, torch.Tensor]:
        """Parameters under the draft file's names (``blk.{i}.wqkv`` ..., ``output_norm``)."""
        out = {"output_norm": self.norm.detach()}
        for i, b in enumerate(self.blocks):
            for name in ("attn_norm", "wqkv", "wo", "ffn_norm", "w_gate_up", "w_down"):
                out[f"blk.{i}.{name}"] = getattr(b, name).detach()
        return out

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits for whole sequences: tokens (B, T) -> (B, T, K).

        Padding must come after each sequence's real tokens (causal masking
        keeps it from affecting them).
        """
        return self.hidden(tokens) @ self.head.t()

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """Final-norm hidden states (B, T, D) for sequences starting at position 0."""
        t = tokens.shape[1]
        cos, sin = self.cos[:t, None, :], self.sin[:t, None, :]  # (T, 1, Dh/2)
        x = self.embed[tokens]  # (B, T, D)
        for b in self.blocks:
            x = b(x, cos, sin)
        return _rms(x, self.norm, self.cfg.norm_eps)

    @torch.inference_mode()
    def decode(
        self, tokens: torch.Tensor, positions: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        """One new token for every cache slot at once: returns logits (S, K).

        Row ``b`` writes its K/V at ``positions[b]`` of slot ``b`` and attends
        to ``0..positions[b]``. Decoding all slots (idle ones with a dummy
        token) keeps the cache reads as views: gathering slots would copy the
        whole cache every layer.

        Args:
            tokens, positions: (S,) int64.
            kv: (NL, S, Hkv, L, Dh) key and value storage.
        """
        kc, vc = kv
        c = self.cfg
        b, g = tokens.shape[0], c.n_heads // c.n_kv_heads
        length = int(positions.max()) + 1
        rows = torch.arange(b)
        cos, sin = self.cos[positions][:, None, None, :], self.sin[positions][:, None, None, :]
        hide = torch.arange(length)[None, :] > positions[:, None]  # (S, L)
        x = self.embed[tokens][:, None, :]  # (S, 1, D)
        for i, blk in enumerate(self.block_list):
            q, k, v = blk.qkv(x, cos, sin)  # (S, 1, H|Hkv, Dh)
            kc[i, rows, :, positions] = k[:, 0]
            vc[i, rows, :, positions] = v[:, 0]
            qg = q.view(b, c.n_kv_heads, g, c.head_dim)  # (S, Hkv, G, Dh): head h reads kv h // G
            att = qg @ kc[i, :, :, :length].transpose(-1, -2) * c.head_dim**-0.5  # (S, Hkv, G, L)
            att = att.masked_fill(hide[:, None, None, :], float("-inf")).softmax(-1)
            a = (att @ vc[i, :, :, :length]).view(b, c.n_heads, 1, c.head_dim)  # (S, H, 1, Dh)
            x = blk.finish(x, a)
        return _rms(x[:, 0], self.norm, c.norm_eps) @ self.head.t()  # (S, K)

    @torch.inference_mode()
    def prefill(
        self, tokens: torch.Tensor, slot: int, start: int, kv: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        """Process tokens (T,) at positions ``start ..`` of ``slot``; returns the last logits (K,).

        Positions ``0 .. start-1`` of the slot must already hold the prefix's K/V.
        """
        kc, vc = kv
        t = tokens.shape[0]
        end = start + t
        cos, sin = self.cos[start:end, None, :], self.sin[start:end, None, :]
        mask = torch.ones(t, end, dtype=torch.bool).tril(diagonal=start)  # (T, start+T)
        x = self.embed[tokens][None]  # (1, T, D)
        for i, blk in enumerate(self.block_list):
            q, k, v = blk.qkv(x, cos, sin)
            kc[i, slot, :, start:end] = k[0].transpose(0, 1)  # (Hkv, T, Dh)
            vc[i, slot, :, start:end] = v[0].transpose(0, 1)
            a = F.scaled_dot_product_attention(
                q.transpose(1, 2), kc[i, slot, None, :, :end], vc[i, slot, None, :, :end],
                attn_mask=mask, enable_gqa=True,
            )  # fmt: skip
            x = blk.finish(x, a)
        return _rms(x[0, -1], self.norm, self.cfg.norm_eps) @ self.head.t()
