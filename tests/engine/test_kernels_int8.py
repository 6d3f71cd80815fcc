"""The int8-activation path of ``linear`` against an independent torch oracle.

The oracle quantizes each activation row per block of 32 by the documented
rule (d = max|x| / 127 in fp32, q = round-half-to-even(x · (1/d)), s = d·Σq),
takes exact integer block dots in float64 and applies the scales. The kernel
must match it tightly, be bit-exactly row invariant, and stay within the
rigorous bound of activation rounding of the fp32-activation path.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from engine import kernels
from engine.kernels import BLOCK, BLOCK_BYTES, QWeight
from engine.kernels._build import load_extension
from tests.engine.test_kernels import assert_rows_invariant, make_weight

QFORMATS = ["q8_0", "q4_0", "q4_1"]


@pytest.fixture(autouse=True, scope="module")
def _needs_cpp() -> Iterator[None]:
    if kernels.backend() != "cpp":
        pytest.skip("the int8 path lives in the C++ extension")
    torch.manual_seed(1)
    yield


def quantize_ref(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x (T, K) → q (T, K/32, 32) int8, d (T, K/32), s (T, K/32), all in fp32 arithmetic."""
    t, k = x.shape
    xb = x.reshape(t, k // BLOCK, BLOCK)  # (T, nb, 32)
    d = xb.abs().amax(-1) / 127  # (T, nb)
    inv = torch.where(d != 0, 1.0 / d, torch.zeros_like(d))
    q = torch.round(xb * inv.unsqueeze(-1)).to(torch.int8)  # half to even
    s = d * q.sum(-1, dtype=torch.int32).float()
    return q, d, s


def weight_parts(w: QWeight) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integer quants (N, nb, 32) int64, scale d_w (N, nb) and offset m_w (N, nb)."""
    n, k = w.shape
    b = w.data.reshape(n, k // BLOCK, BLOCK_BYTES[w.fmt])  # (N, nb, bytes)
    dw = b[..., 0:2].contiguous().view(torch.float16).float().squeeze(-1)
    if w.fmt == "q8_0":
        return b[..., 2:].contiguous().view(torch.int8).long(), dw, torch.zeros_like(dw)
    off = 4 if w.fmt == "q4_1" else 2
    nib = b[..., off:].long()  # (N, nb, 16)
    qw = torch.cat([nib & 0xF, nib >> 4], dim=-1)
    if w.fmt == "q4_0":
        return qw, dw, -8.0 * dw
    return qw, dw, b[..., 2:4].contiguous().view(torch.float16).float().squeeze(-1)


def linear_i8_ref(x: torch.Tensor, w: QWeight) -> torch.Tensor:
    """Σ_b d_w·d_x·⟨q_w, q_x⟩ + Σ_b m_w·s_x in float64 (T, N)."""
    q, d, s = quantize_ref(x)
    qw, dw, mw = weight_parts(w)
    isum = torch.einsum("tbk,nbk->tnb", q.double(), qw.double())  # (T, N, nb), exact
    main = (isum * dw.double().unsqueeze(0) * d.double().unsqueeze(1)).sum(-1)
    return (main + (mw.double().unsqueeze(0) * s.double().unsqueeze(1)).sum(-1)).float()


def test_quantization_is_bit_exact_and_rounds_half_to_even() -> None:
    ext = load_extension()
    assert ext is not None
    x = torch.randn(5, 192) * torch.logspace(-3, 2, 192)
    x[1, 32:64] = 0.0  # an all-zero block: d = 0, q = 0
    x[2, :32] = torch.tensor([127.0, 2.5, 3.5, -2.5, -3.5, 0.5, -0.5, 1.5] + [0.0] * 24)
    q, d, s = ext.quantize_act(x)
    qr, dr, sr = quantize_ref(x)
    assert torch.equal(q, qr.reshape(5, 192)) and torch.equal(d, dr) and torch.equal(s, sr)
    assert q[2, :8].tolist() == [127, 2, 4, -2, -4, 0, 0, 2]
    assert d[1, 1] == 0 and not q[1, 32:64].any()


@pytest.mark.parametrize("fmt", QFORMATS)
@pytest.mark.parametrize("n,k,t", [(960, 576, 1), (301, 192, 5), (37, 64, 16), (6, 96, 2)])
def test_int8_path_matches_oracle(fmt: str, n: int, k: int, t: int, kernel_path: str) -> None:
    w = make_weight(fmt, n, k)
    x = torch.randn(t, k) * 2
    x[0, :32] *= 50  # one loud block per row 0: per-block scales must not leak
    fast = kernels.linear(x, w, act_quant=True)
    ref = linear_i8_ref(x, w)
    assert fast.shape == ref.shape
    err = (fast - ref).abs().max().item()
    assert err <= 2e-6 * ref.abs().max().item() + 1e-6, f"max abs error {err:.3g}"


@pytest.mark.parametrize("fmt", QFORMATS)
def test_int8_path_within_rounding_bound_of_fp32_path(fmt: str) -> None:
    """|i8 − fp32| ≤ Σ_b (d_x/2)·Σ_{i∈b} |w_i| (each x_i moves by at most d_x/2)."""
    w = make_weight(fmt, 257, 576)
    x = torch.randn(7, 576) * torch.linspace(0.1, 4, 576)
    exact = kernels.linear(x, w, act_quant=False)
    approx = kernels.linear(x, w, act_quant=True)
    _, d, _ = quantize_ref(x)  # (T, nb)
    wabs = w.dequantize().abs().reshape(257, 576 // BLOCK, BLOCK).sum(-1)  # (N, nb)
    bound = 0.5 * d @ wabs.t() + 1e-4 * exact.abs().max()  # (T, N)
    assert ((approx - exact).abs() <= bound).all()
    assert not torch.equal(approx, exact)  # the int8 path really ran


@pytest.mark.parametrize("fmt", QFORMATS)
@pytest.mark.parametrize("rows", [11, 19])
def test_int8_rows_are_invariant(fmt: str, rows: int, kernel_path: str) -> None:
    w = make_weight(fmt, 301, 192)  # 301: column tiles of 4 and 16 leave remainders
    x = torch.randn(rows, 192) * 3
    assert_rows_invariant(lambda s: kernels.linear(x[s], w, act_quant=True), rows)


def test_default_selection_and_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    w, x = make_weight("q4_1", 40, 64), torch.randn(3, 64)
    ext = load_extension()
    assert ext is not None
    try:
        kernels.set_act_quant(None)
        assert kernels.act_quant_enabled() == bool(ext.simd_avx2())
        monkeypatch.setenv("AGENTKIT_ACT_QUANT", "0")
        kernels.set_act_quant(None)  # re-reads the environment
        assert not kernels.act_quant_enabled()
        assert torch.equal(kernels.linear(x, w), kernels.linear(x, w, act_quant=False))
        kernels.set_act_quant(True)
        assert torch.equal(kernels.linear(x, w), kernels.linear(x, w, act_quant=True))
        f = make_weight("f32", 40, 64)  # f32 weights ignore the switch
        assert torch.equal(kernels.linear(x, f, act_quant=True), kernels.linear(x, f))
    finally:
        monkeypatch.delenv("AGENTKIT_ACT_QUANT", raising=False)
        kernels.set_act_quant(None)


def test_int8_bad_shapes_raise_value_error() -> None:
    w = make_weight("q4_1", 8, 64)
    with pytest.raises(ValueError):
        kernels.linear(torch.randn(2, 96), w, act_quant=True)
    bad = QWeight("q8_0", (4, 64), torch.zeros(4, 60, dtype=torch.uint8))
    with pytest.raises(ValueError):
        kernels.linear(torch.randn(2, 64), bad, act_quant=True)
    assert kernels.linear(torch.randn(0, 64), w, act_quant=True).shape == (0, 8)
