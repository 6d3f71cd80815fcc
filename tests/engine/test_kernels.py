"""The C++ kernels agree with the torch reference and are bit-exactly row invariant.

Row invariance (row t of a T-row call equals a 1-row call of that row, and
the thread count changes nothing) is what makes speculative verification and
batching exact, so it is checked with ``torch.equal``, never a tolerance.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import time
from collections.abc import Callable, Iterator

import gguf
import numpy as np
import pytest
import torch

from engine import kernels
from engine.kernels import QWeight, _build, _reference

FORMATS = ["f32", "q8_0", "q4_0", "q4_1"]
_GGML = {
    "q8_0": gguf.GGMLQuantizationType.Q8_0,
    "q4_0": gguf.GGMLQuantizationType.Q4_0,
    "q4_1": gguf.GGMLQuantizationType.Q4_1,
}


def make_weight(fmt: str, n: int, k: int, seed: int = 0) -> QWeight:
    """A real GGUF-quantized (N, K) weight (quantized by the gguf library)."""
    w = torch.randn(n, k, generator=torch.Generator().manual_seed(seed))
    if fmt == "f32":
        return QWeight.from_float(w)
    blocks = gguf.quantize(w.numpy(), _GGML[fmt]).view(np.uint8)
    return QWeight.from_blocks(fmt, torch.from_numpy(np.ascontiguousarray(blocks)), (n, k))  # type: ignore[arg-type]


def assert_close(fast: torch.Tensor, ref: torch.Tensor) -> None:
    assert fast.shape == ref.shape and fast.dtype == ref.dtype
    tol = 1e-4 * ref.abs().max().item() + 1e-5
    err = (fast - ref).abs().max().item() if ref.numel() else 0.0
    assert err <= tol, f"max abs error {err:.3g} > {tol:.3g}"


def assert_rows_invariant(fn: Callable[[slice], torch.Tensor], rows: int) -> None:
    """Row t of fn(all rows) equals fn(row t alone) bit for bit, under 1 and 2 threads."""
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        full = fn(slice(0, rows))
        torch.set_num_threads(1)
        assert torch.equal(fn(slice(0, rows)), full), "result depends on the thread count"
        for t in range(rows):
            assert torch.equal(fn(slice(t, t + 1))[0], full[t]), f"row {t} differs from T=1"
        assert torch.equal(fn(slice(1, rows - 1)), full[1 : rows - 1])
    finally:
        torch.set_num_threads(old)


@pytest.fixture(autouse=True, scope="module")
def _seed() -> Iterator[None]:
    torch.manual_seed(0)
    yield


def test_cpp_backend_is_used_when_a_compiler_exists() -> None:
    if os.environ.get("AGENTKIT_KERNELS", "").lower() == "torch" or shutil.which("c++") is None:
        pytest.skip("C++ backend disabled or no compiler")
    assert kernels.backend() == "cpp"


def test_public_surface() -> None:
    assert kernels.__all__ == sorted(kernels.__all__)
    assert set(kernels.__all__) == {
        "BLOCK", "BLOCK_BYTES", "LayerSource", "PlanSource", "QFormat", "QWeight",
        "act_quant_enabled", "attention", "available_paths", "backend", "forward_plan",
        "greedy_pick", "interleave", "kernel_path", "linear", "rms_norm", "rope", "set_act_quant",
        "set_kernel_path", "silu_mul",
    }  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n,k", [(960, 576), (37, 64), (13, 96)])
@pytest.mark.parametrize("t", [1, 2, 5, 16])
def test_linear_matches_reference(fmt: str, n: int, k: int, t: int) -> None:
    w = make_weight(fmt, n, k)
    x = torch.randn(t, k)
    # fp32 activations; the int8 path has its own oracle in test_kernels_int8.py
    assert_close(kernels.linear(x, w, act_quant=False), _reference.linear(x, w))


def test_linear_f32_any_k_and_noncontiguous_x() -> None:
    w = make_weight("f32", 7, 100)
    x = torch.randn(100, 5).t()  # (5, 100), not contiguous
    assert_close(kernels.linear(x, w), _reference.linear(x, w))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("act_quant", [False, True])
def test_linear_rows_are_invariant(fmt: str, act_quant: bool, kernel_path: str) -> None:
    w = make_weight(fmt, 301, 192)
    x = torch.randn(11, 192) * 3
    assert_rows_invariant(lambda s: kernels.linear(x[s], w, act_quant=act_quant), 11)


def test_rms_norm_matches_and_is_invariant() -> None:
    x, w = torch.randn(9, 576) * 4, torch.randn(576)
    assert_close(kernels.rms_norm(x, w, 1e-5), _reference.rms_norm(x, w, 1e-5))
    assert_rows_invariant(lambda s: kernels.rms_norm(x[s], w, 1e-5), 9)


def test_rope_matches_and_is_invariant() -> None:
    x = torch.randn(7, 9, 64)
    ang = torch.randn(7, 32)
    cos, sin = ang.cos(), ang.sin()
    assert_close(kernels.rope(x, cos, sin), _reference.rope(x, cos, sin))
    assert_rows_invariant(lambda s: kernels.rope(x[s], cos[s], sin[s]), 7)


def test_silu_mul_matches_and_is_invariant() -> None:
    gu = torch.randn(6, 2 * 1536 + 6) * 5  # F = 1539: vector body and scalar tail
    gu[0, :6] = torch.tensor([-100.0, -88.0, -30.0, 0.0, 30.0, 100.0])
    assert_close(kernels.silu_mul(gu), _reference.silu_mul(gu))
    assert_rows_invariant(lambda s: kernels.silu_mul(gu[s]), 6)


def _cache(s: int, hkv: int, length: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(s, hkv, length, d), torch.randn(s, hkv, length, d)


@pytest.mark.parametrize("h,hkv,d", [(9, 3, 64), (4, 4, 24), (6, 1, 16)])
def test_attention_matches_and_is_invariant(h: int, hkv: int, d: int) -> None:
    k_cache, v_cache = _cache(3, hkv, 40, d)
    slots = torch.tensor([0, 2, 2, 1, 0, 2])
    pos = torch.tensor([0, 5, 6, 39, 17, 7])
    q = torch.randn(6, h, d) * 2
    fast = kernels.attention(q, k_cache, v_cache, slots, pos)
    assert_close(fast, _reference.attention(q, k_cache, v_cache, slots, pos))
    assert_rows_invariant(lambda s: kernels.attention(q[s], k_cache, v_cache, slots[s], pos[s]), 6)


def test_attention_reads_a_strided_cache_view() -> None:
    k_full, v_full = _cache(2, 3, 64, 64)
    k_cache, v_cache = k_full[:, :, :20], v_full[:, :, :20]  # (S, Hkv, 20, D), not contiguous
    q, slots, pos = torch.randn(3, 9, 64), torch.tensor([1, 0, 1]), torch.tensor([19, 3, 0])
    fast = kernels.attention(q, k_cache, v_cache, slots, pos)
    assert_close(fast, _reference.attention(q, k_cache, v_cache, slots, pos))


def _needs_cpp() -> None:
    if kernels.backend() != "cpp":
        pytest.skip("C++ backend not available")


@pytest.mark.parametrize(
    "call",
    [
        lambda: kernels.linear(torch.randn(2, 64), make_weight("q4_1", 8, 96)),
        lambda: kernels.linear(torch.randn(2, 64, 1), make_weight("q8_0", 8, 64)),
        lambda: kernels.linear(
            torch.randn(2, 48), QWeight("q4_0", (4, 48), torch.zeros(4, 27, dtype=torch.uint8))
        ),
        lambda: kernels.rms_norm(torch.randn(2, 64), torch.ones(63), 1e-5),
        lambda: kernels.rope(torch.randn(2, 3, 8), torch.randn(2, 3), torch.randn(2, 3)),
        lambda: kernels.silu_mul(torch.randn(2, 7)),
        lambda: kernels.attention(
            torch.randn(1, 4, 8), *_cache(1, 2, 4, 8), torch.tensor([0]), torch.tensor([4])
        ),
        lambda: kernels.attention(
            torch.randn(1, 3, 8), *_cache(1, 2, 4, 8), torch.tensor([0]), torch.tensor([0])
        ),
    ],
    ids=[
        "linear-k",
        "linear-rank",
        "linear-storage",
        "rms-weight",
        "rope-cos",
        "silu-odd",
        "attn-pos",
        "attn-gqa",
    ],
)
def test_bad_shapes_raise_value_error(call: Callable[[], object]) -> None:
    _needs_cpp()
    with pytest.raises(ValueError):
        call()


def test_forced_torch_fallback_matches_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKIT_KERNELS", "torch")
    _build.load_extension.cache_clear()
    try:
        assert kernels.backend() == "torch"
        w, x = make_weight("q4_1", 40, 64), torch.randn(3, 64)
        assert torch.equal(kernels.linear(x, w), _reference.linear(x, w))
        gu = torch.randn(2, 16)
        assert torch.equal(kernels.silu_mul(gu), _reference.silu_mul(gu))
    finally:
        monkeypatch.delenv("AGENTKIT_KERNELS")
        _build.load_extension.cache_clear()


def test_cache_dir_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]) -> None:
    monkeypatch.setenv("AGENTKIT_CACHE_DIR", str(tmp_path))
    assert _build.cache_dir() == tmp_path / "kernels"  # type: ignore[operator]


def test_a_lock_left_by_a_killed_build_is_cleared_and_a_live_one_kept(
    tmp_path: pathlib.Path,
) -> None:
    """torch's builder waits forever on ``lock``: a stale one would hang every later start."""
    lock = tmp_path / "lock"
    lock.write_text("")
    assert not _build.clear_stale_lock(tmp_path)  # a build may be running right now
    assert lock.exists()
    old = time.time() - 3600
    os.utime(lock, (old, old))
    assert _build.clear_stale_lock(tmp_path)
    assert not lock.exists()
    assert not _build.clear_stale_lock(tmp_path)  # nothing to clear
