"""Build (once) and load the C++ kernel extension.

The extension is compiled with ``torch.utils.cpp_extension.load`` into a cache
folder keyed by a hash of the sources, flags, torch and Python versions, so a
second process imports the cached ``.so`` directly (no ninja, no compiler).

There is one build per instruction-set path (`engine.kernels._paths`): the
best one this CPU runs is loaded unless ``AGENTKIT_KERNELS`` or `set_path`
asks for another; every path's build lives in its own cache folder, and
several can be loaded in one process (tests compare them).

Environment:
    AGENTKIT_KERNELS: ``torch`` forces the pure-torch reference (no build);
        ``avx512vnni``, ``avxvnni``, ``avx2`` or ``portable`` (``scalar``) forces
        that path where the CPU runs it; unset: the best path the CPU runs.
    AGENTKIT_CACHE_DIR: cache root; the extension goes to ``<root>/kernels``.
        Defaults to ``~/.cache/agentkit``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import pathlib
import sys
import time
from types import ModuleType
from typing import TYPE_CHECKING, cast

import structlog

from engine.kernels._paths import available_paths, path_named, requested_path

if TYPE_CHECKING:
    from engine.kernels._ext import Extension

__all__ = [
    "active_path",
    "cache_dir",
    "clear_stale_lock",
    "load_extension",
    "load_path",
    "set_path",
]

_log = structlog.get_logger(__name__)
_HERE = pathlib.Path(__file__).resolve().parent
_SOURCES = (
    "_bind.cpp",
    "_forward.cpp",
    "_linear.cpp",
    "_linear_i8.cpp",
    "_linear_x8.cpp",
    "_ops.cpp",
)
_HEADERS = ("_actq.h", "_formats.h", "_forward.h", "_simd.h")
_STALE_LOCK_S = 300.0  # a build lock older than this was left by a killed build
_path_override: str | None = None  # set_path's choice, over AGENTKIT_KERNELS
_served_path = "torch"  # the path load_extension last returned (or "torch")


def cache_dir() -> pathlib.Path:
    """Folder holding built extensions (``$AGENTKIT_CACHE_DIR/kernels`` or ``~/.cache/...``)."""
    root = os.environ.get("AGENTKIT_CACHE_DIR")
    base = pathlib.Path(root) if root else pathlib.Path.home() / ".cache" / "agentkit"
    return base / "kernels"


def _cflags(path: str) -> list[str]:
    # fp-contract=off: the compiler may not fuse a*b+c differently in two code
    # paths, which would break bit-exact row invariance.
    return ["-O3", "-ffp-contract=off", "-fopenmp", *path_named(path).cflags]


def _module_name(cflags: list[str]) -> str:
    import torch

    h = hashlib.sha256()
    for src in _SOURCES + _HEADERS:
        h.update((_HERE / src).read_bytes())
    h.update(" ".join(cflags).encode())
    h.update(f"{torch.__version__}|{sys.version_info[:2]}|{sys.platform}".encode())
    return f"agentkit_kernels_{h.hexdigest()[:16]}"


def _import_so(name: str, path: pathlib.Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clear_stale_lock(build_dir: pathlib.Path, max_age_s: float = _STALE_LOCK_S) -> bool:
    """Remove a build lock older than ``max_age_s``; returns whether one was removed.

    torch's builder holds ``<build_dir>/lock`` while ninja runs and waits, without
    limit, while it exists. A build killed halfway (Ctrl-C, OOM, a timeout) leaves
    it behind, and every later process would hang on it. A build takes 1–2 min.
    """
    lock = build_dir / "lock"
    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return False
    if age <= max_age_s:
        return False
    _log.warning("kernels.stale_build_lock_removed", path=str(lock), age_s=round(age))
    lock.unlink(missing_ok=True)
    return True


def _build(name: str, cflags: list[str], build_dir: pathlib.Path) -> ModuleType:
    from torch.utils import cpp_extension

    build_dir.mkdir(parents=True, exist_ok=True)
    clear_stale_lock(build_dir)
    _log.info("kernels.build", name=name, build_dir=str(build_dir))
    module: ModuleType = cpp_extension.load(
        name=name,
        sources=[str(_HERE / s) for s in _SOURCES],
        extra_cflags=cflags,
        extra_ldflags=["-fopenmp"],
        build_directory=str(build_dir),
        verbose=False,
    )
    return module


def active_path() -> str:
    """The path `load_extension` serves (``"torch"`` when none does).

    `set_path`'s choice, else ``AGENTKIT_KERNELS``'s, else the best the CPU
    runs; a path that fails to build gives way to the next one the CPU runs.
    """
    load_extension()
    return _served_path


def set_path(name: str | None) -> None:
    """Serve the kernels from path ``name`` in this process (``None``: back to the default).

    Objects built on the previous path (a model's ``ForwardPlan``) must be
    rebuilt; `engine.model.Transformer` does so on its next forward.

    Raises:
        ValueError: ``name`` is unknown or this CPU cannot run it.
    """
    global _path_override
    if name is not None:
        name = path_named(name).name
        if name not in available_paths():
            raise ValueError(
                f"this CPU cannot run kernel path {name!r}; it runs {available_paths()}"
            )
    _path_override = name
    load_extension.cache_clear()


@functools.cache
def load_extension() -> Extension | None:
    """The compiled extension of the chosen path, or ``None`` (forced off, or nothing builds).

    Tries the chosen path, then each path below it that the CPU runs (a
    compiler without AVX-512 support must not cost the AVX2 build); logs
    ``kernels.path_fallback`` when it had to. Read once; `set_path` re-reads.
    Typed by ``_ext.pyi`` (the functions ``_bind.cpp`` exports).
    """
    global _served_path
    _served_path = "torch"
    if os.environ.get("AGENTKIT_KERNELS", "").strip().lower() == "torch" and _path_override is None:
        return None
    wanted = _path_override or requested_path()
    have = available_paths()
    below = have[have.index(wanted) + 1 :] if wanted in have else ()
    for path in (wanted, *below):
        ext = load_path(path)
        if ext is not None:
            if path != wanted:
                _log.warning("kernels.path_fallback", wanted=wanted, using=path)
            _served_path = path
            return ext
    _log.warning("kernels.fallback_to_torch", tried=[wanted, *below])
    return None


@functools.cache
def load_path(path: str) -> Extension | None:
    """The extension built for ``path`` (built on first use), or ``None`` if it fails to build.

    Raises:
        ValueError: ``path`` is not a known path name.
    """
    import torch  # noqa: F401  (libtorch must be loaded before the .so)

    cflags = _cflags(path_named(path).name)
    name = _module_name(cflags)
    build_dir = cache_dir() / name
    so = build_dir / f"{name}.so"
    try:
        if so.exists():
            try:
                return cast("Extension", _import_so(name, so))
            except ImportError:  # e.g. a link killed halfway: let ninja redo it
                pass
        return cast("Extension", _build(name, cflags, build_dir))
    except Exception as exc:  # any build/import failure: the next path, else the reference
        _log.warning("kernels.build_failed", path=path, reason=f"{type(exc).__name__}: {exc}"[:500])
        return None
