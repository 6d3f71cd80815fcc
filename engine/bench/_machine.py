"""What a benchmark ran on: CPU model and features, versions; recorded in every result.

A skeptic reading a ratio needs to know the CPU it was measured on (AVX2
only, or AVX-512 VNNI: the kernels differ) and the exact software on both
sides; the peer's own versions and build features come from `engine.bench._peer`.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from engine.kernels._paths import parse_cpu_flags

__all__ = ["CPU_FLAGS", "cpu_flags", "machine_info"]

# The /proc/cpuinfo flags that decide which kernels run (ours and llama.cpp's).
CPU_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl",
    "avx512dq", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_int8", "amx_bf16",
)  # fmt: skip


def cpu_flags(cpuinfo: str) -> list[str]:
    """The `CPU_FLAGS` present in ``cpuinfo`` (the text of /proc/cpuinfo), in that order."""
    have = parse_cpu_flags(cpuinfo)
    return [f for f in CPU_FLAGS if f in have]


def _cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False,
            cwd=Path(__file__).resolve().parent, timeout=5,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    """CPU model, logical cores, the `CPU_FLAGS` it has, and our side's versions."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    return {
        "cpu": _cpu_model(cpuinfo),
        "logical_cores": os.cpu_count(),
        "cpu_flags": cpu_flags(cpuinfo),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "agentkit": _version("agentkit"),
        "git_commit": _git_commit(),
    }
