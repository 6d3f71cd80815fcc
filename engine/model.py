"""The Llama-family transformer (Llama 2/3, SmolLM2, Mistral, Qwen2) on the engine's kernels.

One ragged ``forward(tokens, slots, positions)`` serves single-token decode,
verification of drafted tokens and mixed batches: every row writes its K/V at
``cache[slot, :, pos]`` and attends over its own slot up to ``pos``. All its
products go through :mod:`engine.kernels`, whose ops are row-invariant, so a
row's logits do not depend on what else is in the batch.

On the C++ backend ``forward`` runs as one call into the extension's
``ForwardPlan``, which holds the weights and runs the very same kernels in
the same order (bit-identical logits, tested) without ~360 Python-level op
calls a token; ``forward_python`` is the loop it replaces, kept as the
readable reference and the path for other devices and backends.

``prefill`` feeds one prompt: in chunks through the ``ForwardPlan`` (the head
on the last row only) where the plan serves the model, else with dense fp32
matmuls and SDPA, matching ``forward`` to ~1e-5.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from engine import kernels
from engine._config import ModelConfig
from engine.kernels import QWeight
from engine.kv_cache import KV_DTYPES, KVCache

if TYPE_CHECKING:
    from engine.kernels._ext import ForwardPlan

__all__ = ["PREFILL_CHUNK", "LayerWeights", "Transformer"]

PREFILL_CHUNK = 256  # rows a chunked prefill feeds per forward (128–256 measured best)


@dataclass(frozen=True)
class LayerWeights:
    """One transformer block's weights, with Q/K/V and gate/up fused along N.

    Attributes:
        attn_norm, ffn_norm: (D,) RMSNorm weights.
        wqkv: ((H + 2·Hkv)·Dh, D), rows [q | k | v], HF rotate-half layout.
        bqkv: ((H + 2·Hkv)·Dh,) biases (Qwen2) or None.
        wo: (D, H·Dh).
        w_gate_up: (2F, D), rows [gate | up].
        w_down: (D, F).
    """

    attn_norm: torch.Tensor
    wqkv: QWeight
    bqkv: torch.Tensor | None
    wo: QWeight
    ffn_norm: torch.Tensor
    w_gate_up: QWeight
    w_down: QWeight


def _interleave_layer(lw: LayerWeights) -> LayerWeights:
    return replace(
        lw,
        wqkv=kernels.interleave(lw.wqkv),
        wo=kernels.interleave(lw.wo),
        w_gate_up=kernels.interleave(lw.w_gate_up),
        w_down=kernels.interleave(lw.w_down),
    )


class Transformer:
    """A decoder-only transformer whose weights stay in their GGUF storage format.

    Args:
        config: the model's hyper-parameters.
        embed: (V, D) token embedding (any QWeight format).
        layers: one ``LayerWeights`` per block.
        norm: (D,) final RMSNorm weight.
        head: (V, D) output projection (the embedding itself when tied).
        max_seq_len: positions to precompute RoPE tables for.
    """

    def __init__(
        self,
        config: ModelConfig,
        embed: QWeight,
        layers: list[LayerWeights],
        norm: torch.Tensor,
        head: QWeight,
        max_seq_len: int | None = None,
    ) -> None:
        """Store the weights and precompute the RoPE tables."""
        self.config = config
        # The int8 kernel reads each matrix 8 rows interleaved (engine/kernels/_pack.py);
        # a tied head stays the embedding's own object.
        self.head = kernels.interleave(head)
        self.embed = self.head if head is embed else embed
        self.layers = [_interleave_layer(lw) for lw in layers]
        self.norm = norm
        n = max_seq_len or config.max_seq_len
        angles = torch.outer(torch.arange(n, dtype=torch.float32), config.inv_freq())  # (L, Dh/2)
        self.cos, self.sin = angles.cos(), angles.sin()  # (L, Dh/2) each
        h, hkv, dh = config.n_heads, config.n_kv_heads, config.head_dim
        self._qkv_split = [h * dh, hkv * dh, hkv * dh]
        self._plan: ForwardPlan | None = None  # the extension's, built on first use
        self._plan_checked = False
        self._plan_path = ""  # the kernel path the plan was built on (kernels.kernel_path)

    @property
    def nbytes(self) -> int:
        """Bytes of weight storage (shared head counted once)."""
        total = self.embed.nbytes + self.norm.numel() * 4
        if self.head is not self.embed:
            total += self.head.nbytes
        for lw in self.layers:
            total += lw.wqkv.nbytes + lw.wo.nbytes + lw.w_gate_up.nbytes + lw.w_down.nbytes
        return total

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Gather and expand embedding rows: tokens (T,) -> (T, D) fp32."""
        e = self.embed
        if e.fmt == "f32":
            return e.data[tokens]
        return QWeight(e.fmt, (tokens.shape[0], e.shape[1]), e.data[tokens]).dequantize()

    def forward(
        self,
        tokens: torch.Tensor,
        slots: torch.Tensor,
        positions: torch.Tensor,
        cache: KVCache,
        logit_rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Ragged forward over rows from any mix of sequences.

        Row ``t`` is token ``tokens[t]`` of the sequence in cache slot
        ``slots[t]`` at position ``positions[t]``; rows of one sequence must
        come in increasing position order. Does not touch ``cache.lengths``.
        Runs in the C++ ``ForwardPlan`` when the extension serves this model,
        else `forward_python` (same kernels, same bits).

        Args:
            tokens, slots, positions: (T,) int64.
            cache: the KV cache the rows read and write.
            logit_rows: (R,) int64 rows whose logits are wanted (None: all).
                The head is a fifth of a row's work, and a prompt chunk
                needs at most its last row's logits.

        Returns:
            logits (T, V) fp32, or (R, V) for ``logit_rows``.
        """
        plan = self._native_plan(cache)
        if plan is None:
            return self.forward_python(tokens, slots, positions, cache, logit_rows)
        act_quant = kernels.act_quant_enabled()
        return plan.forward(tokens, slots, positions, cache.k, cache.v, act_quant, logit_rows)

    def _native_plan(self, cache: KVCache) -> ForwardPlan | None:
        """The extension's ForwardPlan for these weights, or None where it does not apply."""
        path = kernels.kernel_path()
        if not self._plan_checked or path != self._plan_path:  # first use, or another path
            self._plan_checked, self._plan_path = True, path
            self._plan = kernels.forward_plan(self)
        if self._plan is None or not cache.k.is_cpu or cache.k.dtype not in KV_DTYPES.values():
            return None
        return self._plan

    @torch.inference_mode()
    def forward_python(
        self,
        tokens: torch.Tensor,
        slots: torch.Tensor,
        positions: torch.Tensor,
        cache: KVCache,
        logit_rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`forward` as a Python loop over the kernels (reference; any device or backend)."""
        cfg = self.config
        x = self.embed_tokens(tokens)  # (T, D)
        cos, sin = self.cos[positions], self.sin[positions]  # (T, Dh/2)
        rows = cache.row_index(slots, positions)  # (T·Hkv,)
        for i, lw in enumerate(self.layers):
            q, k, v = self._qkv(kernels.rms_norm(x, lw.attn_norm, cfg.norm_eps), lw, cos, sin)
            cache.write(i, rows, k, v)
            a = kernels.attention(q, cache.k_layers[i], cache.v_layers[i], slots, positions)
            x = x + kernels.linear(a.flatten(1), lw.wo)  # (T, D)
            h = kernels.rms_norm(x, lw.ffn_norm, cfg.norm_eps)
            x = x + kernels.linear(kernels.silu_mul(kernels.linear(h, lw.w_gate_up)), lw.w_down)
        if logit_rows is not None:
            x = x[logit_rows]  # (R, D)
        return kernels.linear(kernels.rms_norm(x, self.norm, cfg.norm_eps), self.head)  # (T|R, V)

    def _qkv(
        self, h: torch.Tensor, lw: LayerWeights, cos: torch.Tensor, sin: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Project (T, D) to rotated q (T, H, Dh), k (T, Hkv, Dh) and v (T, Hkv, Dh)."""
        cfg = self.config
        qkv = kernels.linear(h, lw.wqkv)  # (T, (H + 2Hkv)·Dh)
        if lw.bqkv is not None:
            qkv = qkv + lw.bqkv
        q, k, v = qkv.split_with_sizes(self._qkv_split, dim=-1)
        t = h.shape[0]
        q = kernels.rope(q.view(t, cfg.n_heads, cfg.head_dim), cos, sin)
        k = kernels.rope(k.view(t, cfg.n_kv_heads, cfg.head_dim), cos, sin)
        return q, k, v.view(t, cfg.n_kv_heads, cfg.head_dim)

    @torch.inference_mode()
    def prefill(
        self,
        tokens: torch.Tensor,
        slot: int,
        start: int,
        cache: KVCache,
        all_logits: bool = False,
        dense: bool | None = None,
    ) -> torch.Tensor:
        """Process one sequence's ``tokens`` at positions ``start ..``.

        Two ways, chosen by ``dense`` (None: the faster one here):

        - the C++ ``ForwardPlan`` in chunks of `PREFILL_CHUNK` rows, the head on
          the last row only: bit-identical to ``forward``. With the interleaved
          int8 kernel it is 2–4× faster than the dense way (0.75 s against
          1.7 s for 522 tokens on 2 cores, 2026-11-28), so it is the default
          wherever the plan serves the model;
        - dense products: each weight expanded to fp32 and one GEMM per weight,
          SDPA for attention; equal to ``forward`` within float rounding
          (~1e-5). The way on other backends and devices.

        Args:
            tokens: (T,) int64.
            slot: the sequence's cache slot.
            start: position of ``tokens[0]`` (the cached prefix length).
            cache: the KV cache.
            all_logits: return logits for every row instead of the last one.
            dense: force the dense way (True) or the chunked one (False).

        Returns:
            logits (T, V) if ``all_logits`` else (1, V).
        """
        if not dense and (dense is False or self._native_plan(cache) is not None):
            return self._prefill_chunked(tokens, slot, start, cache, all_logits)
        return self._prefill_dense(tokens, slot, start, cache, all_logits)

    def _prefill_chunked(
        self, tokens: torch.Tensor, slot: int, start: int, cache: KVCache, all_logits: bool
    ) -> torch.Tensor:
        t = tokens.shape[0]
        outs: list[torch.Tensor] = []
        for s in range(0, t, PREFILL_CHUNK):
            e = min(t, s + PREFILL_CHUNK)
            last = [e - s - 1] if e == t else []  # logits of the prompt's last row only
            rows = None if all_logits else torch.tensor(last, dtype=torch.long)
            slots = torch.full((e - s,), slot, dtype=torch.long)
            out = self.forward(tokens[s:e], slots, torch.arange(start + s, start + e), cache, rows)
            if all_logits or e == t:
                outs.append(out)
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def _prefill_dense(
        self, tokens: torch.Tensor, slot: int, start: int, cache: KVCache, all_logits: bool
    ) -> torch.Tensor:
        cfg = self.config
        t = tokens.shape[0]
        positions = torch.arange(start, start + t)
        slots = torch.full((t,), slot, dtype=torch.long)
        x = self.embed_tokens(tokens)  # (T, D)
        cos, sin = self.cos[positions], self.sin[positions]  # (T, Dh/2)
        end = start + t
        mask = torch.ones(t, end, dtype=torch.bool).tril(diagonal=start)  # (T, start+T)
        rows = cache.row_index(slots, positions)  # (T·Hkv,)
        for i, lw in enumerate(self.layers):
            h = kernels.rms_norm(x, lw.attn_norm, cfg.norm_eps)
            q, k, v = self._qkv_dense(h, lw, cos, sin)
            cache.write(i, rows, k, v)
            kc = cache.k_layers[i][slot, :, :end].float()  # (Hkv, start+T, Dh), fp16 widened
            vc = cache.v_layers[i][slot, :, :end].float()
            a = F.scaled_dot_product_attention(
                q.transpose(0, 1), kc, vc, attn_mask=mask, enable_gqa=True
            )  # (H, T, Dh)
            x = x + a.transpose(0, 1).flatten(1) @ lw.wo.dequantize().t()  # (T, D)
            h = kernels.rms_norm(x, lw.ffn_norm, cfg.norm_eps)
            gu = h @ lw.w_gate_up.dequantize().t()  # (T, 2F)
            x = x + kernels.silu_mul(gu) @ lw.w_down.dequantize().t()
        if not all_logits:
            x = x[-1:]
        return kernels.linear(kernels.rms_norm(x, self.norm, cfg.norm_eps), self.head)

    def _qkv_dense(
        self, h: torch.Tensor, lw: LayerWeights, cos: torch.Tensor, sin: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Like ``_qkv`` but with one dense GEMM over the expanded weight."""
        cfg = self.config
        qkv = h @ lw.wqkv.dequantize().t()  # (T, (H + 2Hkv)·Dh)
        if lw.bqkv is not None:
            qkv = qkv + lw.bqkv
        q, k, v = qkv.split_with_sizes(self._qkv_split, dim=-1)
        t = h.shape[0]
        q = kernels.rope(q.reshape(t, cfg.n_heads, cfg.head_dim), cos, sin)
        k = kernels.rope(k.reshape(t, cfg.n_kv_heads, cfg.head_dim), cos, sin)
        return q, k, v.reshape(t, cfg.n_kv_heads, cfg.head_dim)
