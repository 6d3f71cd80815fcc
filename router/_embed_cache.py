"""The disk cache of `EmbeddingLayer.embed_corpus`: training texts embedded once.

Layout: ``<root>/<model_key>/shard-<hash>.npz``, each shard holding ``keys``
``(n, 16)`` uint8 (BLAKE2b of the UTF-8 text) and ``vecs`` ``(n, 384)`` float32. The
model key names the folder, so vectors of another model, tokenizer or quantisation
are never mixed in. Shards are written whole through a temporary file and
``os.replace``, so a reader never sees half of one, and concurrent runs only ever
add files. An unreadable or malformed shard is skipped with a log line (its texts
are embedded again).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

__all__ = ["DEFAULT_ROOT", "DiskCache", "text_digest"]

_log = structlog.get_logger("router")
DEFAULT_ROOT = Path("~/.cache/agentkit/embeddings")
_SHARD_TEXTS = 2048  # texts per shard: an interrupted run loses at most one shard's work
_DIM = 384


def text_digest(text: str) -> bytes:
    """The 16-byte key of one text (lone surrogates are hashed as they are)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass
class DiskCache:
    """The vectors cached for one model key.

    Attributes:
        folder: ``<root>/<model_key>``.
        index: Vector by text digest, from every readable shard.
    """

    folder: Path
    index: dict[bytes, np.ndarray]

    @classmethod
    def open(cls, root: str | Path | None, model_key: str) -> DiskCache:
        """Read every shard under ``root/model_key`` (the folder is created if needed)."""
        folder = Path(root or DEFAULT_ROOT).expanduser() / model_key
        folder.mkdir(parents=True, exist_ok=True)
        index: dict[bytes, np.ndarray] = {}
        for shard in sorted(folder.glob("shard-*.npz")):
            loaded = _read_shard(shard)
            if loaded is None:
                continue
            keys, vecs = loaded
            index.update(zip(map(bytes, keys), vecs, strict=True))
        return cls(folder, index)

    def fetch(
        self,
        texts: Sequence[str],
        compute: Callable[[Sequence[str]], np.ndarray],
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """The vector of every text: cached ones read, the others computed and stored.

        Args:
            texts: The texts, in the order of the rows returned.
            compute: Embeds a list of texts (``(n, 384)`` float32).
            progress: Called with ``(done, total)`` texts computed after each shard.
        """
        digests = [text_digest(t) for t in texts]
        todo: dict[bytes, str] = {}
        for digest, text in zip(digests, texts, strict=True):
            if digest not in self.index:
                todo.setdefault(digest, text)
        # Shortest first: batches of similar length waste the least work on padding.
        pending = sorted(todo.items(), key=lambda kv: len(kv[1]))
        for start in range(0, len(pending), _SHARD_TEXTS):
            chunk = pending[start : start + _SHARD_TEXTS]
            vecs = np.asarray(compute([text for _, text in chunk]), dtype=np.float32)
            self._write([d for d, _ in chunk], vecs)
            if progress is not None:
                progress(min(start + _SHARD_TEXTS, len(pending)), len(pending))
        if not digests:
            return np.zeros((0, _DIM), dtype=np.float32)
        return np.stack([self.index[d] for d in digests]).astype(np.float32, copy=False)

    def _write(self, digests: list[bytes], vecs: np.ndarray) -> None:
        keys = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(len(digests), 16)
        name = f"shard-{hashlib.blake2b(keys.tobytes(), digest_size=8).hexdigest()}.npz"
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".shard-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, keys=keys, vecs=vecs)
            os.replace(tmp, self.folder / name)
        except OSError as exc:  # a full or read-only disk costs the cache, not the run
            _log.warning("embedding_cache_write_failed", folder=str(self.folder), error=repr(exc))
            Path(tmp).unlink(missing_ok=True)
        self.index.update(zip(digests, vecs, strict=True))


def _read_shard(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """A shard's ``(keys, vecs)``; None, logged, when it is unreadable or malformed."""
    try:
        with np.load(path, allow_pickle=False) as z:
            keys, vecs = np.asarray(z["keys"]), np.asarray(z["vecs"])
    except Exception as exc:  # truncated, not a zip, missing arrays: embed those texts again
        _log.warning("embedding_cache_shard_skipped", path=str(path), error=repr(exc))
        return None
    ok = (
        keys.dtype == np.uint8
        and keys.ndim == 2
        and keys.shape[1] == 16
        and vecs.dtype == np.float32
        and vecs.shape == (len(keys), _DIM)
        and bool(np.isfinite(vecs).all())
    )
    if not ok:
        _log.warning("embedding_cache_shard_skipped", path=str(path), error="bad shapes")
        return None
    return keys, vecs
