"""The weight storage formats: Python's copy of the table in ``_formats.h``.

The C++ table is the source: the kernels and the ``ForwardPlan`` read it, and
the extension exports it (``formats()``). This copy exists because the loader
and the torch fallback need the same facts without the extension;
``tests/engine/test_kernels.py`` checks that the two tables are equal.

Quantized formats keep GGUF's own blocks of 32 weights; ``f32`` is a "block" of
one 4-byte float, so ``row bytes = K / block_elems · block_bytes`` for every format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["BLOCK", "BLOCK_BYTES", "FORMATS", "FormatSpec", "QFormat"]

QFormat = Literal["f32", "q8_0", "q4_0", "q4_1"]


@dataclass(frozen=True)
class FormatSpec:
    """One storage format, as a row of ``kFormats`` in ``_formats.h``."""

    name: QFormat
    """The format's name (``QWeight.fmt``, as in GGUF)."""
    code: int
    """The code the extension's kernels take (``ak::QFormat``)."""
    block_elems: int
    """Weights in a block (32 for the GGUF formats, 1 for ``f32``)."""
    block_bytes: int
    """Bytes of a block."""
    scale_bytes: int
    """Bytes of fp16 scales at the head of a block (``d``, and ``m`` for q4_1)."""


FORMATS: dict[QFormat, FormatSpec] = {
    s.name: s
    for s in (
        FormatSpec("f32", 0, 1, 4, 0),
        FormatSpec("q8_0", 1, 32, 34, 2),  # d | 32 × int8
        FormatSpec("q4_0", 2, 32, 18, 2),  # d | 16 bytes of nibbles
        FormatSpec("q4_1", 3, 32, 20, 4),  # d | m | 16 bytes of nibbles
    )
}
BLOCK = 32
"""Weights in a quantized block."""
BLOCK_BYTES: dict[str, int] = {
    n: s.block_bytes for n, s in FORMATS.items() if s.block_elems == BLOCK
}
"""Bytes of a block, for the quantized formats only."""
