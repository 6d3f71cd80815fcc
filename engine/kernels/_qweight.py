"""`QWeight`: a weight matrix kept in its (quantized) storage format.

Quantized formats keep GGUF's own blocks (32 weights a block) so that a 4-bit
checkpoint stays 4-bit in memory (sizes: ``_formats.py``, ``_formats.h``):

- ``q8_0``: fp16 scale ``d`` + 32 × int8; w = d · q
- ``q4_0``: fp16 ``d`` + 16 bytes of nibbles; w = d · (q − 8)
- ``q4_1``: fp16 ``d``, fp16 ``m`` + 16 bytes; w = d · q + m

Nibble order as in ggml: byte ``j`` holds element ``j`` (low nibble) and
element ``j + 16`` (high nibble).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from engine.kernels._formats import BLOCK, BLOCK_BYTES, FORMATS, QFormat

__all__ = ["BLOCK", "BLOCK_BYTES", "QFormat", "QWeight"]


@dataclass(frozen=True)
class QWeight:
    """A (N, K) weight matrix: ``f32`` data (N, K) or raw GGUF blocks uint8 (N, K/32·bytes).

    ``packed``, when set, is the same blocks interleaved 8 rows at a time
    (``engine.kernels._pack``), which the int8-activation kernel reads instead
    of ``data``; ``data`` stays for the fp32-activation path, embedding
    lookups and ``dequantize``.
    """

    fmt: QFormat
    shape: tuple[int, int]
    data: torch.Tensor
    packed: torch.Tensor | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_float(cls, w: torch.Tensor) -> QWeight:
        """Wrap a float matrix (N, K) as an fp32 weight."""
        return cls("f32", (w.shape[0], w.shape[1]), w.detach().float().contiguous())

    @classmethod
    def from_blocks(cls, fmt: QFormat, blocks: torch.Tensor, shape: tuple[int, int]) -> QWeight:
        """Wrap raw GGUF blocks (uint8, N rows of K/32 blocks each)."""
        n, k = shape
        return cls(fmt, shape, blocks.reshape(n, k // BLOCK * BLOCK_BYTES[fmt]).contiguous())

    @staticmethod
    def cat(parts: list[QWeight]) -> QWeight:
        """Stack matrices of one format along N (fusing Q/K/V or gate/up)."""
        fmt, k = parts[0].fmt, parts[0].shape[1]
        n = sum(p.shape[0] for p in parts)
        return QWeight(fmt, (n, k), torch.cat([p.data for p in parts], dim=0))

    def with_packed(self, packed: torch.Tensor) -> QWeight:
        """This weight with its interleaved copy attached (see ``_pack.pack_rows8``)."""
        return replace(self, packed=packed)

    @property
    def nbytes(self) -> int:
        """Bytes this weight occupies in memory (with its interleaved copy)."""
        extra = 0 if self.packed is None else self.packed.numel()
        return self.data.numel() * self.data.element_size() + extra

    def dequantize(self) -> torch.Tensor:
        """Expand to fp32 (N, K)."""
        if self.fmt == "f32":
            return self.data
        n, k = self.shape
        b = self.data.reshape(n, k // BLOCK, BLOCK_BYTES[self.fmt])  # (N, K/32, bytes)
        d = b[..., 0:2].contiguous().view(torch.float16).float()  # (N, K/32, 1)
        if self.fmt == "q8_0":
            q = b[..., 2:].contiguous().view(torch.int8).float()  # (N, K/32, 32)
            return (q * d).reshape(n, k)
        off = FORMATS[self.fmt].scale_bytes
        nib = b[..., off:]  # (N, K/32, 16)
        q = torch.cat([nib & 0x0F, nib >> 4], dim=-1).float()  # (N, K/32, 32)
        if self.fmt == "q4_0":
            return ((q - 8.0) * d).reshape(n, k)
        m = b[..., 2:4].contiguous().view(torch.float16).float()
        return (q * d + m).reshape(n, k)
