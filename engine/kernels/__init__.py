"""The engine's hot operations: fused dequantize-and-multiply, norms, attention.

Every operation computes each row of its output independently and in the same
order whatever the number of rows, so verifying γ drafted tokens (or batching
requests) yields bit-identical rows to single-token decode.

This module currently dispatches to the pure-torch reference; the C++
extension plugs in behind the same functions.
"""

from __future__ import annotations

from engine.kernels._qweight import BLOCK, BLOCK_BYTES, QFormat, QWeight
from engine.kernels._reference import attention, linear, rms_norm, rope, silu_mul

__all__ = [
    "BLOCK",
    "BLOCK_BYTES",
    "QFormat",
    "QWeight",
    "attention",
    "linear",
    "rms_norm",
    "rope",
    "silu_mul",
]
