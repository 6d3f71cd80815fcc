"""The engine's hot operations: fused dequantize-and-multiply, norms, attention.

Every operation computes each row of its output independently and in the same
order whatever the number of rows (and, on the C++ backend, whatever the
thread count), so verifying γ drafted tokens (or batching requests) yields
bit-identical rows to single-token decode.

Backends: CPU float32 tensors go to a C++ extension (built on first use and
cached, see ``engine.kernels._build``); everything else, or every call when
``AGENTKIT_KERNELS=torch`` is set or the build failed, goes to the pure-torch
reference. Only the C++ backend guarantees bit-exact row invariance.
"""

from __future__ import annotations

from typing import Literal

import torch

from engine.kernels import _reference
from engine.kernels._build import load_extension
from engine.kernels._qweight import BLOCK, BLOCK_BYTES, QFormat, QWeight

__all__ = [
    "BLOCK",
    "BLOCK_BYTES",
    "QFormat",
    "QWeight",
    "attention",
    "backend",
    "linear",
    "rms_norm",
    "rope",
    "silu_mul",
]

_FMT_CODE: dict[str, int] = {"f32": 0, "q8_0": 1, "q4_0": 2, "q4_1": 3}
_F32 = torch.float32


def backend() -> Literal["cpp", "torch"]:
    """Which backend serves CPU float32 tensors (builds the extension if needed)."""
    return "torch" if load_extension() is None else "cpp"


def linear(x: torch.Tensor, w: QWeight) -> torch.Tensor:
    """``x @ W.T`` for ``x`` (T, K) and ``W`` (N, K); returns (T, N).

    Raises:
        ValueError: on the C++ backend, if shapes or storage do not match.
    """
    ext = load_extension()
    if ext is None or not x.is_cpu or x.dtype is not _F32:
        return _reference.linear(x, w)
    return ext.linear(x, w.data, _FMT_CODE[w.fmt], w.shape[0], w.shape[1])  # type: ignore[no-any-return]


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm over the last dim of ``x`` (T, D) with ``weight`` (D,)."""
    ext = load_extension()
    if ext is None or not x.is_cpu or x.dtype is not _F32 or weight.dtype is not _F32:
        return _reference.rms_norm(x, weight, eps)
    return ext.rms_norm(x, weight, eps)  # type: ignore[no-any-return]


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding, HF "rotate half" layout.

    Args:
        x: (T, H, D)
        cos, sin: (T, D // 2), already gathered at each row's position.
    """
    ext = load_extension()
    if ext is None or not x.is_cpu or x.dtype is not _F32:
        return _reference.rope(x, cos, sin)
    return ext.rope(x, cos, sin)  # type: ignore[no-any-return]


def silu_mul(gate_up: torch.Tensor) -> torch.Tensor:
    """SwiGLU: ``silu(gate) * up`` for ``gate_up`` (T, 2F) laid out [gate | up]."""
    ext = load_extension()
    if ext is None or not gate_up.is_cpu or gate_up.dtype is not _F32:
        return _reference.silu_mul(gate_up)
    return ext.silu_mul(gate_up)  # type: ignore[no-any-return]


def attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    slots: torch.Tensor,
    positions: torch.Tensor,
) -> torch.Tensor:
    """Causal attention of each query row over its own cache slot.

    Row ``t`` attends to ``cache[slots[t], :, 0 : positions[t] + 1]``: its own
    key/value must already be written at ``positions[t]``. Query head ``h``
    reads KV head ``h // (H // Hkv)``; scores are scaled by ``D ** -0.5``.

    Args:
        q: (T, H, D)
        k_cache, v_cache: (S, Hkv, L, D)
        slots, positions: (T,) int64
    Returns:
        (T, H, D)
    """
    ext = load_extension()
    if ext is None or not q.is_cpu or q.dtype is not _F32 or k_cache.dtype is not _F32:
        return _reference.attention(q, k_cache, v_cache, slots, positions)
    return ext.attention(q, k_cache, v_cache, slots, positions)  # type: ignore[no-any-return]
