"""Weights interleaved 8 rows at a time: the layout, and the kernel that reads it.

The layout is checked byte by byte against the documented formula; the kernel
against the same float64 oracle as the row-major int8 path, for bit-exact row
and thread invariance, and for agreeing with the row-major path to float
rounding (the two sum the same exact integer block dots in a different order).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from engine import kernels
from engine.kernels import BLOCK, BLOCK_BYTES, QWeight
from engine.kernels._build import load_extension
from engine.kernels._pack import pack_rows8, packable
from tests.engine.test_kernels import assert_rows_invariant, make_weight
from tests.engine.test_kernels_int8 import QFORMATS, linear_i8_ref


@pytest.fixture(autouse=True, scope="module")
def _needs_cpp() -> Iterator[None]:
    if kernels.backend() != "cpp":
        pytest.skip("the interleaved kernel lives in the C++ extension")
    torch.manual_seed(2)
    yield


def packed_byte_source(fmt: str, nb: int, g: int, b: int, i: int) -> tuple[int, int]:
    """(row, byte offset in that row's GGUF blocks) of byte ``i`` of group ``g``, block ``b``.

    The documented layout: the 8 rows' d (fp16), then for q4_1 their m, then
    slices of 4 quant bytes, slice-major and row-minor.
    """
    row_bytes = BLOCK_BYTES[fmt]
    head = 16 if fmt != "q4_1" else 32
    if i < head:  # scales: d[0..7] then m[0..7], 2 bytes each
        which, rest = divmod(i, 16)
        r, byte = divmod(rest, 2)
        return 8 * g + r, b * row_bytes + 2 * which + byte
    j = i - head
    chunk, rest = divmod(j, 32)
    r, byte = divmod(rest, 4)
    return 8 * g + r, b * row_bytes + head // 8 + 4 * chunk + byte


@pytest.mark.parametrize("fmt", QFORMATS)
def test_packing_follows_the_documented_layout(fmt: str) -> None:
    n, k = 16, 96
    w = make_weight(fmt, n, k)
    packed = pack_rows8(w)
    nb, gb = k // BLOCK, 8 * BLOCK_BYTES[fmt]
    assert packed.shape == (n // 8, nb * gb) and packed.dtype == torch.uint8
    for g in range(n // 8):
        for b in range(nb):
            for i in range(gb):
                r, off = packed_byte_source(fmt, nb, g, b, i)
                assert packed[g, b * gb + i] == w.data[r, off], (g, b, i)


def test_only_quantized_weights_with_rows_in_eights_are_packed() -> None:
    assert not packable(make_weight("f32", 16, 64))
    odd = make_weight("q4_1", 12, 64)
    assert not packable(odd)
    assert kernels.interleave(odd) is odd  # served by the row-major kernel
    with pytest.raises(ValueError, match="interleave"):
        pack_rows8(odd)
    w = kernels.interleave(make_weight("q4_1", 16, 64))
    assert w.packed is not None and w.nbytes == 2 * w.data.numel()
    assert kernels.interleave(w) is w  # idempotent


@pytest.mark.parametrize("fmt", QFORMATS)
@pytest.mark.parametrize("n,k,t", [(960, 576, 1), (304, 192, 5), (40, 64, 16), (8, 96, 2)])
def test_interleaved_kernel_matches_oracle(
    fmt: str, n: int, k: int, t: int, kernel_path: str
) -> None:
    w = kernels.interleave(make_weight(fmt, n, k))
    assert w.packed is not None
    x = torch.randn(t, k) * 2
    x[0, :32] *= 50  # one loud block: per-block scales must not leak
    fast = kernels.linear(x, w, act_quant=True)
    ref = linear_i8_ref(x, w)
    err = (fast - ref).abs().max().item()
    assert err <= 2e-6 * ref.abs().max().item() + 1e-6, f"max abs error {err:.3g}"
    row_major = kernels.linear(x, QWeight(w.fmt, w.shape, w.data), act_quant=True)
    assert torch.allclose(fast, row_major, rtol=0, atol=4e-6 * ref.abs().max().item() + 1e-6)


@pytest.mark.parametrize("fmt", QFORMATS)
@pytest.mark.parametrize("rows", [1 + 4 * 2, 15, 19])
def test_interleaved_rows_are_invariant(fmt: str, rows: int, kernel_path: str) -> None:
    """Tiles of 4 rows (8 on VNNI paths) plus every remainder: each row equals its one-row call."""
    w = kernels.interleave(make_weight(fmt, 296, 192))
    x = torch.randn(rows, 192) * 3
    assert_rows_invariant(lambda s: kernels.linear(x[s], w, act_quant=True), rows)


def test_fp32_activations_ignore_the_interleaved_copy() -> None:
    plain = make_weight("q4_1", 24, 64)
    x = torch.randn(3, 64)
    exact = kernels.linear(x, plain, act_quant=False)
    assert torch.equal(kernels.linear(x, kernels.interleave(plain), act_quant=False), exact)


def test_interleaved_storage_mismatch_raises_value_error() -> None:
    ext = load_extension()
    assert ext is not None
    w = kernels.interleave(make_weight("q8_0", 16, 64))
    assert w.packed is not None
    with pytest.raises(ValueError, match="packed weight storage"):
        ext.linear_x8(torch.randn(2, 64), w.packed[:, :-1].contiguous(), 1, 16, 64)
    with pytest.raises(ValueError, match="N % 8"):
        ext.linear_x8(torch.randn(2, 64), w.packed, 1, 12, 64)
    assert kernels.linear(torch.randn(0, 64), w, act_quant=True).shape == (0, 16)
