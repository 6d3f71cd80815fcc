"""Kernel paths: chosen for the CPU, forced by name, and what holds across them.

Within a path the exactness tests (row invariance, batched = alone,
speculative = plain, prefix hit = fresh prefill) run per path through the
``kernel_path`` fixture and `tests.engine._sched_helpers.MODEL_VARIANTS`.
Here: the x86 paths (avx512vnni, avxvnni, avx2) form the same exact int32
block dots and share every float step, so their outputs are bit-identical;
the portable path rounds its float steps differently, so it agrees only
within the int8-activation tolerance documented in engine/kernels/README.md.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest
import torch
from structlog.testing import capture_logs

from engine import Engine, kernels
from engine.bench.kernels import random_qweight
from engine.kernels import _build, _paths
from engine.kernels._formats import FORMATS
from engine.kernels._pack import pack_rows8

AVX2 = {"avx2", "fma", "f16c"}
AVX512_VNNI = AVX2 | {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"}
X86 = [p for p in kernels.available_paths() if p != "portable"]


@pytest.fixture
def cpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """A fake CPU: the flags the test puts in this set are what ``/proc/cpuinfo`` shows."""
    flags: set[str] = set()
    monkeypatch.setattr(_paths, "cpu_flags", lambda: frozenset(flags))
    yield flags


@pytest.mark.parametrize(
    "flags,paths",
    [
        (AVX512_VNNI, ("avx512vnni", "avx2", "portable")),
        (AVX512_VNNI - {"avx512vl"}, ("avx2", "portable")),  # no VL: no 256-bit EVEX vpdpbusd
        (AVX2 | {"avx_vnni"}, ("avxvnni", "avx2", "portable")),
        (AVX512_VNNI | {"avx_vnni"}, ("avx512vnni", "avxvnni", "avx2", "portable")),
        (AVX2, ("avx2", "portable")),
        (AVX2 - {"f16c"}, ("portable",)),
        (set(), ("portable",)),  # ARM, or /proc unreadable
    ],
)
def test_available_paths_follow_the_cpu_flags(
    cpu: set[str], flags: set[str], paths: tuple[str, ...]
) -> None:
    cpu |= flags
    assert _paths.available_paths() == paths


def test_the_environment_forces_a_path_the_cpu_runs(
    cpu: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cpu |= AVX512_VNNI
    assert _paths.requested_path() == "avx512vnni"  # unset: the best
    for env, path in [("avx2", "avx2"), ("scalar", "portable"), ("PORTABLE", "portable")]:
        monkeypatch.setenv("AGENTKIT_KERNELS", env)
        assert _paths.requested_path() == path
    for env, event in [
        ("avxvnni", "kernels.path_not_supported_by_cpu"),
        ("sse9", "kernels.unknown_path"),
    ]:
        monkeypatch.setenv("AGENTKIT_KERNELS", env)
        with capture_logs() as logs:
            assert _paths.requested_path() == "avx512vnni"  # never an illegal instruction
        assert [e["event"] for e in logs] == [event]


def test_set_kernel_path_refuses_unknown_and_unsupported_paths(cpu: set[str]) -> None:
    cpu |= AVX2
    with pytest.raises(ValueError, match="unknown kernel path"):
        kernels.set_kernel_path("sse9")
    with pytest.raises(ValueError, match="cannot run"):
        kernels.set_kernel_path("avx512vnni")


def test_a_path_that_fails_to_build_gives_way_to_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    have = kernels.available_paths()
    real = _build.load_path
    broken: set[str] = {have[0]}  # e.g. a compiler that knows no AVX-512
    monkeypatch.setattr(_build, "load_path", lambda p: None if p in broken else real(p))
    _build.load_extension.cache_clear()
    try:
        with capture_logs() as logs:
            ext = _build.load_extension()
        if len(have) > 1:
            assert ext is not None and ext.simd_path() == have[1] == kernels.kernel_path()
            assert [e["using"] for e in logs if e["event"] == "kernels.path_fallback"] == [have[1]]
        broken.update(have)  # nothing builds: the torch reference
        _build.load_extension.cache_clear()
        with capture_logs() as logs:
            assert _build.load_extension() is None and kernels.kernel_path() == "torch"
        assert [e["event"] for e in logs] == ["kernels.fallback_to_torch"]
    finally:
        monkeypatch.undo()
        _build.load_extension.cache_clear()


def test_each_path_is_its_own_build_and_says_which(kernel_path: str) -> None:
    ext = _build.load_extension()
    assert ext is not None and ext.simd_path() == kernel_path == kernels.kernel_path()
    assert ext.simd_avx2() == (kernel_path != "portable")
    names = {_build._module_name(_build._cflags(p)) for p in kernels.available_paths()}
    assert len(names) == len(kernels.available_paths())  # one cache folder per path


@pytest.mark.parametrize("fmt", ["q8_0", "q4_0", "q4_1"])
def test_x86_paths_give_bit_identical_products(fmt: str) -> None:
    """Random bytes: q8_0 weights include -128, the VNNI w + 128 trick's edge."""
    if len(X86) < 2:
        pytest.skip(f"this CPU runs one x86 path: {X86}")
    w = random_qweight(fmt, 304, 192, seed=3)
    packed, code = pack_rows8(w), FORMATS[fmt].code
    for t in (1, 5, 16):
        x = torch.randn(t, 192) * 3
        x[0, :32] *= 40  # one loud block
        outs = []
        for path in X86:
            ext = _build.load_path(path)
            assert ext is not None
            outs.append(
                (ext.linear_x8(x, packed, code, 304, 192), ext.linear_i8(x, w.data, code, 304, 192))
            )
        for x8, i8 in outs[1:]:
            assert torch.equal(x8, outs[0][0]) and torch.equal(i8, outs[0][1])


def _logits_by_path(engine: Engine, act_quant: bool) -> dict[str, torch.Tensor]:
    """The default model's logits over a chat prompt's rows, on every path."""
    prompt = engine.render_chat([{"role": "user", "content": "My order #1234 is late. Help?"}])
    ids = engine.encode(prompt)
    rows = len(ids)
    out = {}
    try:
        kernels.set_act_quant(act_quant)
        for path in kernels.available_paths():
            kernels.set_kernel_path(path)
            out[path] = engine.model.forward(
                torch.tensor(ids), torch.zeros(rows, dtype=torch.long), torch.arange(rows),
                engine.cache,
            )  # fmt: skip
            assert engine.model._plan_path == path  # the plan followed the switch
    finally:
        kernels.set_kernel_path(None)
        kernels.set_act_quant(None)
    return out


def test_default_model_logits_across_paths(default_engine: Engine) -> None:
    """x86 paths: equal bits. Portable: within the int8 tolerance (README, "Kernel paths").

    With int8 activations the portable path's other float rounding moves the
    logits as much as a one-ulp change of one norm weight does (measured max
    |dlogit| 1.96, mean 0.24: a requantized activation near a rounding edge
    flips), the same size as int8 vs fp32 activations; with fp32 activations
    the paths differ by rounding only.
    """
    quant = _logits_by_path(default_engine, act_quant=True)
    fp32 = _logits_by_path(default_engine, act_quant=False)
    for path in X86:
        assert torch.equal(quant[path], quant[X86[0]]), path
        assert torch.equal(fp32[path], fp32[X86[0]]), path
    if "portable" in quant and X86:
        d = (quant["portable"] - quant[X86[0]]).abs()
        agree = (quant["portable"].argmax(-1) == quant[X86[0]].argmax(-1)).float().mean()
        assert d.mean() <= 0.4 and d.max() <= 4.0 and agree >= 0.9, (d.mean(), d.max(), agree)
        assert (fp32["portable"] - fp32[X86[0]]).abs().max() <= 0.05


@pytest.mark.slow
def test_avxvnni_path_builds_with_vex_instructions_only() -> None:
    """AVX-VNNI compiles here but runs only on CPUs that have it (none here): check its code.

    A CPU with AVX-VNNI and no AVX-512 (Alder Lake) would die on any EVEX
    instruction, so the build must hold VEX ``vpdpbusd`` and no zmm, ymm16-31
    or mask register.
    """
    ext = _build.load_path("avxvnni")
    assert ext is not None and ext.simd_path() == "avxvnni"  # no VNNI instruction executed
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("no objdump to read the build's instructions")
    name = _build._module_name(_build._cflags("avxvnni"))
    so = _build.cache_dir() / name / f"{name}.so"
    text = subprocess.run([objdump, "-d", str(so)], capture_output=True, text=True).stdout
    dots = [line for line in text.splitlines() if "vpdpbusd" in line]
    assert dots and all("{vex}" in line for line in dots)
    assert not re.search(r"%zmm|%[xy]mm(1[6-9]|2\d|3[01])\b|%k[1-7]\b", text)
