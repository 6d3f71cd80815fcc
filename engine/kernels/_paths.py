"""Which instruction-set path the C++ kernels are built for, chosen for the CPU at hand.

One table, `PATHS`, best first: each path's compiler flags and the
``/proc/cpuinfo`` flags a CPU needs to run it. Every path is its own build of
the whole extension (its own cache folder: the name hashes the flags), so
several coexist on disk and in one process.

========== ============================================ ==================================
path       int8 x int8 block dot (32 multiply-adds)     runs on
========== ============================================ ==================================
avx512vnni ``vpdpbusd`` on 256-bit registers (EVEX)      AVX-512 F/BW/VL + VNNI (Ice Lake+,
                                                         Zen 4+)
avxvnni    ``vpdpbusd`` on 256-bit registers (VEX)       AVX-VNNI (Alder Lake+, Zen 5)
avx2       ``vpmaddubsw`` + ``vpmaddwd`` (+ int16 adds)  AVX2 + FMA + F16C (Haswell+)
portable   scalar C++, the same integer math             anything (ARM, old x86)
========== ============================================ ==================================

The three x86 paths differ only in how the exact int32 block dot is formed;
every float operation after it (scale, FMA order, sums) is the same code, so
their outputs are bit-identical. The portable path rounds its float steps
differently (no FMA, another sum tree): within the int8 tolerance, not equal.

``AGENTKIT_KERNELS`` forces a path (``avx512vnni``, ``avxvnni``, ``avx2``,
``portable``; ``scalar`` is the old name of ``portable``) or the torch
reference (``torch``). A forced path the CPU cannot run is refused with a
warning and the best path it can run is used instead (an illegal instruction
would kill the process).
"""

from __future__ import annotations

import functools
import os
import pathlib
from dataclasses import dataclass

import structlog

__all__ = [
    "PATHS",
    "KernelPath",
    "available_paths",
    "cpu_flags",
    "parse_cpu_flags",
    "path_named",
    "requested_path",
]

_log = structlog.get_logger(__name__)
_BASE = ("-mavx2", "-mfma", "-mf16c")
_BASE_CPU = frozenset({"avx2", "fma", "f16c"})


@dataclass(frozen=True)
class KernelPath:
    """One build of the extension: its name, compiler flags and required CPU flags."""

    name: str
    """Path name, as ``AGENTKIT_KERNELS`` and `engine.kernels.kernel_path` spell it."""
    cflags: tuple[str, ...]
    """Flags added to ``-O3 -ffp-contract=off -fopenmp``."""
    cpu: frozenset[str]
    """``/proc/cpuinfo`` flags the CPU must show to run this build."""


PATHS: tuple[KernelPath, ...] = (
    KernelPath(
        "avx512vnni",
        (*_BASE, "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni"),
        _BASE_CPU | {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"},
    ),
    KernelPath("avxvnni", (*_BASE, "-mavxvnni"), _BASE_CPU | {"avx_vnni"}),
    KernelPath("avx2", _BASE, _BASE_CPU),
    KernelPath("portable", (), frozenset()),
)
_ALIASES = {"scalar": "portable"}


def parse_cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags of the first CPU in ``cpuinfo`` (the text of /proc/cpuinfo)."""
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where it cannot be read)."""
    try:
        return parse_cpu_flags(pathlib.Path("/proc/cpuinfo").read_text())
    except OSError:
        return frozenset()


def available_paths() -> tuple[str, ...]:
    """Names of the paths this CPU can run, best first (``portable`` always last)."""
    have = cpu_flags()
    return tuple(p.name for p in PATHS if p.cpu <= have)


def path_named(name: str) -> KernelPath:
    """The path called ``name`` (``scalar`` is ``portable``).

    Raises:
        ValueError: no path has that name.
    """
    name = _ALIASES.get(name, name)
    for p in PATHS:
        if p.name == name:
            return p
    raise ValueError(f"unknown kernel path {name!r}; known: {', '.join(p.name for p in PATHS)}")


def requested_path() -> str:
    """The path ``AGENTKIT_KERNELS`` asks for if this CPU runs it, else the best one it runs."""
    have = available_paths()
    env = os.environ.get("AGENTKIT_KERNELS", "").strip().lower()
    name = _ALIASES.get(env, env)
    if not name or name == "torch":
        return have[0]
    if name not in {p.name for p in PATHS}:
        _log.warning("kernels.unknown_path", requested=env, using=have[0])
        return have[0]
    if name not in have:
        _log.warning("kernels.path_not_supported_by_cpu", requested=name, using=have[0])
        return have[0]
    return name
