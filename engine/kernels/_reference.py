"""Pure-torch reference implementations of the engine's hot operations.

These run on any device and are the fallback when the C++ extension cannot be
built. They define the semantics the fast kernels must reproduce.
"""

from __future__ import annotations

import torch

from engine.kernels._qweight import QWeight

__all__ = ["attention", "linear", "rms_norm", "rope", "silu_mul"]


def linear(x: torch.Tensor, w: QWeight) -> torch.Tensor:
    """``x @ W.T`` for ``x`` (T, K) and ``W`` (N, K); returns (T, N)."""
    return x @ w.dequantize().to(x.dtype).t()


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm over the last dim of ``x`` (T, D)."""
    var = x.pow(2).mean(-1, keepdim=True)
    return x * torch.rsqrt(var + eps) * weight


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding, HF "rotate half" layout.

    Args:
        x: (T, H, D)
        cos, sin: (T, D // 2), already gathered at each row's position.
    """
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]  # (T, H, D/2) each
    c, s = cos.unsqueeze(1), sin.unsqueeze(1)  # (T, 1, D/2)
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


def silu_mul(gate_up: torch.Tensor) -> torch.Tensor:
    """SwiGLU: ``silu(gate) * up`` for ``gate_up`` (T, 2F) laid out [gate | up]."""
    gate, up = gate_up.chunk(2, dim=-1)
    return torch.nn.functional.silu(gate) * up


def attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    slots: torch.Tensor,
    positions: torch.Tensor,
) -> torch.Tensor:
    """Causal attention of each query row over its own cache slot.

    Row ``t`` attends to ``cache[slots[t], :, 0 : positions[t] + 1]``: its own
    key/value must already be written at ``positions[t]``. Rows are independent,
    so decode, verification and ragged batches all go through here.

    Args:
        q: (T, H, D)
        k_cache, v_cache: (S, Hkv, L, D)
        slots, positions: (T,) int64
    Returns:
        (T, H, D)
    """
    T, H, D = q.shape
    hkv = k_cache.shape[1]
    out = torch.empty_like(q)
    scale = D**-0.5
    for t in range(T):
        n = int(positions[t]) + 1
        k = k_cache[int(slots[t]), :, :n].float().repeat_interleave(H // hkv, dim=0)  # (H, n, D)
        v = v_cache[int(slots[t]), :, :n].float().repeat_interleave(H // hkv, dim=0)  # (H, n, D)
        att = torch.einsum("hd,hnd->hn", q[t], k) * scale  # (H, n)
        out[t] = torch.einsum("hn,hnd->hd", att.softmax(-1), v)
    return out
