"""Repack GGUF blocks 8 rows interleaved, the layout of the ``linear_x8`` kernel.

A pure byte permutation (no arithmetic, so nothing is rounded): for each group
of 8 weight rows and each block of 32 columns, the 8 rows' scales come first,
then the quants in 4-byte slices, row after row, so one 32-byte load holds the
same 4 columns of all 8 rows. See ``_linear_x8.cpp`` for the exact layout and
why it makes a few activation rows nearly as cheap as one.
"""

from __future__ import annotations

import torch

from engine.kernels._formats import BLOCK, FORMATS
from engine.kernels._qweight import QWeight

__all__ = ["ROWS", "pack_rows8", "packable"]

ROWS = 8


def packable(w: QWeight) -> bool:
    """Whether ``w`` has an interleaved form: quantized and N a multiple of 8."""
    return w.fmt != "f32" and w.shape[0] % ROWS == 0 and w.shape[1] % BLOCK == 0


def pack_rows8(w: QWeight) -> torch.Tensor:
    """The interleaved copy of ``w``'s blocks: uint8 (N/8, K/32 · 8 · block bytes).

    Raises:
        ValueError: ``w`` is not `packable`.
    """
    if not packable(w):
        raise ValueError(f"cannot interleave a {w.fmt} weight of shape {w.shape}")
    n, k = w.shape
    spec = FORMATS[w.fmt]
    nbytes, head = spec.block_bytes, spec.scale_bytes  # d (and m) fp16 per row
    blocks = w.data.reshape(n // ROWS, ROWS, k // BLOCK, nbytes).transpose(1, 2)  # (G, nb, 8, B)
    scales = blocks[..., :head].reshape(*blocks.shape[:3], head // 2, 2)  # (G, nb, 8, s, 2)
    scales = scales.transpose(2, 3).reshape(*blocks.shape[:2], -1)  # d[8] then m[8]
    slices = blocks[..., head:].reshape(*blocks.shape[:3], -1, 4)  # (G, nb, 8, chunks, 4)
    slices = slices.transpose(2, 3).reshape(*blocks.shape[:2], -1)  # chunk-major, then row
    return torch.cat([scales, slices], dim=-1).reshape(n // ROWS, -1).contiguous()
