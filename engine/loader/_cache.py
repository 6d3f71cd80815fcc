"""On-disk cache for costly load steps (GGUF index, tokenizer, re-quantized tensors)."""

from __future__ import annotations

import hashlib
import os
import pathlib

__all__ = ["cache_dir", "file_key"]

_FORMAT_VERSION = "2"  # bump when the cached layout changes (2: interleaved copies)
_EDGE = 1 << 20  # hash the first and last MiB: cheap, and catches in-place rewrites


def cache_dir() -> pathlib.Path:
    """``$AGENTKIT_CACHE_DIR`` or ``~/.cache/agentkit``, created on demand."""
    root = os.environ.get("AGENTKIT_CACHE_DIR") or os.path.join("~", ".cache", "agentkit")
    path = pathlib.Path(root).expanduser() / "engine"
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_key(path: pathlib.Path) -> str:
    """A cheap content key: size, mtime and a hash of the file's first and last MiB."""
    st = path.stat()
    h = hashlib.sha256(f"{_FORMAT_VERSION}:{st.st_size}:{st.st_mtime_ns}".encode())
    with path.open("rb") as f:
        h.update(f.read(_EDGE))
        if st.st_size > _EDGE:
            f.seek(max(st.st_size - _EDGE, _EDGE))
            h.update(f.read(_EDGE))
    return h.hexdigest()[:24]
