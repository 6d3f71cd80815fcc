"""On-disk cache for costly load steps (GGUF index, tokenizer, re-quantized tensors).

Several processes may load the same model at once, and any file in the cache
may be missing, truncated or overwritten. So:

- the index starts with a digest of its own contents (`seal`), checked on read;
- every file is written to a unique temporary file in the cache folder and
  renamed over its name (`write_atomic`): a reader sees the old file or the
  new one, never a mix, and concurrent writers never share a temporary file;
- each tensor file (``*.q8_0.bin``, ``*.fused.bin``) starts with a header
  (`BLOB_HEADER` bytes: magic, payload size, digest of its tensor table), and
  the index records each file's size and digest (its manifest);
- readers check what they mapped against the manifest (`blob_matches`) and
  rebuild on any mismatch, with a ``model_cache.rebuild`` log line.

Writers of one model produce byte-identical files, so whichever rename lands
last leaves a consistent cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import struct
import tempfile
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

__all__ = [
    "BLOB_HEADER",
    "blob_matches",
    "cache_dir",
    "file_key",
    "log_cache_event",
    "seal",
    "unseal",
    "write_atomic",
    "write_blobs",
]

_FORMAT_VERSION = "3"  # bump when the cached layout changes (3: headers and manifests)
_EDGE = 1 << 20  # hash the first and last MiB: cheap, and catches in-place rewrites
BLOB_HEADER = 64  # bytes before the first tensor of a cached tensor file (keeps 64-alignment)
_MAGIC = b"AKBLOB03"
_HEAD = struct.Struct("<8sQ32s")  # magic, payload bytes, sha256 of the tensor table


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


def log_cache_event(event: str, **fields: Any) -> None:
    """Log a cache event (a rebuild, a failed write) through structlog, at warning level."""
    import structlog  # imported here: rare events, and structlog costs ~0.6 s to import

    structlog.get_logger("engine.loader").warning(event, **fields)


def write_atomic(path: pathlib.Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through a unique temporary file beside it and an atomic rename.

    Raises:
        OSError: the folder is not writable or the disk is full (nothing is left behind).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would differ from the files it replaces
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def seal(payload: bytes) -> bytes:
    """``payload`` behind a line holding its sha256, for `unseal` to check."""
    return hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def unseal(data: bytes) -> bytes:
    """The payload `seal` wrapped, after checking its digest.

    Raises:
        ValueError: no digest line, or the payload changed since it was sealed.
    """
    digest, _, payload = data.partition(b"\n")
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise ValueError("the index does not match its digest (damaged or partly written)")
    return payload


def _table_digest(entries: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).digest()


def write_blobs(
    path: pathlib.Path, blobs: Iterable[tuple[str, dict[str, Any], bytes]], file: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write tensors to a headed cache file, atomically.

    Args:
        path: the file to write.
        blobs: ``(name, entry, bytes)``; each entry gets ``file``, ``offset`` and ``nbytes``.
        file: the storage name the entries refer to (``"conv"``, ``"fused"``).

    Returns:
        ``(entries, manifest)``: the index entries, and the file's manifest
        (``{"bytes": size, "digest": hex}``) for `blob_matches`.
    """
    entries: dict[str, Any] = {}

    def write(f: IO[bytes]) -> None:
        f.write(b"\0" * BLOB_HEADER)
        offset = BLOB_HEADER
        for name, entry, blob in blobs:
            entries[name] = {**entry, "file": file, "offset": offset, "nbytes": len(blob)}
            pad = (-len(blob)) % 64  # keep every tensor 64-byte aligned
            f.write(blob + b"\0" * pad)
            offset += len(blob) + pad
        f.seek(0)
        f.write(_HEAD.pack(_MAGIC, offset - BLOB_HEADER, _table_digest(entries)))

    write_atomic(path, write)
    size = path.stat().st_size
    return entries, {"bytes": size, "digest": _table_digest(entries).hex()}


def blob_matches(data: bytes | memoryview | Any, manifest: object) -> str:
    """Why the mapped file ``data`` does not match its ``manifest``, or "" when it does."""
    if not isinstance(manifest, dict):
        return "no manifest in the index"
    if len(data) != manifest.get("bytes"):
        return f"size {len(data)} != {manifest.get('bytes')} (truncated or replaced)"
    if len(data) < BLOB_HEADER:
        return "shorter than its header"
    magic, payload, digest = _HEAD.unpack_from(data, 0)
    if magic != _MAGIC or payload != len(data) - BLOB_HEADER:
        return "corrupted header"
    if digest.hex() != manifest.get("digest"):
        return "tensor table differs from the index"
    return ""
