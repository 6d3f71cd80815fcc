"""Layer 2: a small linear model over hashed character and word n-grams.

Pure NumPy. Character 3-5-grams are hashed with a vectorised rolling hash, so
featurising a request costs tens of microseconds and needs no vocabulary file.
Digits are folded to ``0`` and whitespace runs to one space, so that the model
cannot key on a source's number formats or indentation style.
"""

from __future__ import annotations

import itertools
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from router._features import FEATURE_NAMES, structural_features, tokenize

__all__ = ["HEADS", "N_BUCKETS", "Features", "LinearModel", "featurize", "gram_weight_per_byte"]

N_BUCKETS = 1 << 14  # 16 384 x 12 float32 weights (786 KB) stay in L2: gathers don't miss to DRAM
HEADS: tuple[str, ...] = (
    "math",
    "logic",
    "code",
    "unsafe",
    "sexual",
    "sexual/minors",
    "hate",
    "hate/threatening",
    "harassment",
    "self-harm",
    "violence",
    "violence/graphic",
)
_CHAR_TEXT_LIMIT = 600  # characters fed to the character n-grams (each costs 3 gathers)
_WORD_LIMIT = 160  # words fed to the word n-grams
_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\d")
_MULTS = np.array([0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1], dtype=np.int64)
_GRAM_MIX = np.stack([np.where(np.arange(5) < n, _MULTS, 0) for n in (3, 4, 5)], axis=1)
_GRAM_MIX[0] += np.array([1 << 40, 2 << 40, 3 << 40])  # separates the three gram lengths
_MAX_BYTES = 4 * _CHAR_TEXT_LIMIT  # UTF-8 needs at most 4 bytes a character
_WINDOWS = np.arange(_MAX_BYTES)[:, None] + np.arange(5)  # gather indices of every 5-gram
_GOLDEN = np.int64(0x9E3779B97F4A7C15 - (1 << 64))  # 2^64 / phi, as a signed int64


@dataclass(frozen=True)
class Features:
    """One text's features: sparse hashed n-grams and the dense structural vector.

    Attributes:
        idx: Hashed bucket id of every n-gram occurrence (repeats allowed), int64.
        val: Their weights (``1/sqrt(len(idx))``), float32.
        dense: The structural features (`FEATURE_NAMES` order).
    """

    idx: np.ndarray
    val: np.ndarray
    dense: np.ndarray


def _char_hashes(text: str) -> np.ndarray:
    """Hashes of every character 3-, 4- and 5-gram, in two vectorised operations."""
    data = np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8)[: _MAX_BYTES + 4]
    if data.size < 5:
        return np.zeros(0, dtype=np.int64)
    return _gram_buckets(data[_WINDOWS[: data.size - 4]]).ravel()


def _gram_buckets(windows: np.ndarray) -> np.ndarray:
    """``(L, 3)`` buckets of the 3-, 4- and 5-gram starting at each row's byte.

    ``windows`` is ``(L, 5)``: the five bytes from each start position.
    """
    # Column j of _GRAM_MIX sums the first 3+j bytes: 3-, 4- and 5-gram hashes at once.
    # int64 products wrap silently, which is what a multiplicative hash wants.
    mixed = (windows.astype(np.int64) @ _GRAM_MIX) * _GOLDEN  # (L, 3)
    return np.asarray((mixed >> 24) & (N_BUCKETS - 1), dtype=np.int64)


def gram_weight_per_byte(data: np.ndarray, weights: np.ndarray, chunk: int = 1 << 17) -> np.ndarray:
    """Per byte of a UTF-8 text, the summed ``weights`` of the 3/4/5-grams that start there.

    The character n-grams of `featurize`, over a whole text of any length, in
    chunks of ``chunk`` bytes (memory stays bounded): ``(len(data),)`` float32,
    zero for the last four bytes (no 5-gram starts there).

    Args:
        data: The text's UTF-8 bytes, ``uint8``.
        weights: ``(N_BUCKETS,)`` one weight per bucket (e.g. one head's column).
    """
    out = np.zeros(data.size, dtype=np.float32)
    if data.size < 5:
        return out
    view = np.lib.stride_tricks.sliding_window_view(data, 5)  # (L-4, 5), no copy
    for lo in range(0, view.shape[0], chunk):
        buckets = _gram_buckets(view[lo : lo + chunk])
        out[lo : lo + buckets.shape[0]] = weights.take(buckets).sum(axis=1)
    return out


def _word_hashes(tokens: list[str]) -> np.ndarray:
    words = list(itertools.islice((t for t in tokens if t[0].isalpha()), _WORD_LIMIT))
    grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    return np.fromiter(
        (zlib.crc32(g.encode()) & (N_BUCKETS - 1) for g in grams), dtype=np.int64, count=len(grams)
    )


def _weights(ids: np.ndarray) -> np.ndarray:
    """One weight per occurrence, ``1/sqrt(n)``: repeated n-grams add up in the dot product."""
    return np.full(ids.size, 1.0 / max(1.0, ids.size) ** 0.5, dtype=np.float32)


def featurize(text: str, context_chars: int = 0) -> Features:
    """Features of one normalised text.

    Args:
        text: The normalised text (see `router.normalize_text`).
        context_chars: Characters of surrounding history/tool results.

    Returns:
        The sparse hashed n-grams and the dense structural features.
    """
    low = text.lower()
    tokens = tokenize(low)
    flat = _DIGITS.sub("0", _SPACES.sub(" ", low[:_CHAR_TEXT_LIMIT]))
    # Word and character n-grams share the buckets and one unit norm.
    idx = np.concatenate([_char_hashes(f" {flat} "), _word_hashes(tokens)])
    return Features(idx, _weights(idx), structural_features(text, tokens, context_chars))


@dataclass(frozen=True)
class LinearModel:
    """One-vs-rest logistic heads over hashed n-grams plus structural features.

    Attributes:
        hashed: ``(N_BUCKETS, K)`` weights of the hashed n-grams.
        dense: ``(F, K)`` weights of the structural features.
        bias: ``(K,)`` intercepts.
        heads: Names of the K outputs.
        thresholds: Calibrated decision threshold per head (validation split).
        meta: Free-form provenance (training data, date, validation numbers).
    """

    hashed: np.ndarray
    dense: np.ndarray
    bias: np.ndarray
    heads: tuple[str, ...] = HEADS
    thresholds: tuple[float, ...] = ()
    meta: str = "{}"
    # The last (features, probabilities): the safety filter and the router score the
    # same cached `Features` of one turn back to back, so the second call is a lookup.
    _last: list[tuple[Features, dict[str, float]]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def logits(self, feats: Features) -> np.ndarray:
        """Raw scores ``(K,)`` for one text."""
        # `take` gathers the rows ~3x faster than fancy indexing (same values).
        hashed = self.hashed.take(feats.idx, axis=0)  # (n, K)
        out = feats.val @ hashed if feats.idx.size else np.zeros(len(self.heads))
        return np.asarray(out + feats.dense @ self.dense + self.bias, dtype=np.float64)

    def predict(self, feats: Features) -> dict[str, float]:
        """Probability per head for one text."""
        last = self._last[0] if self._last else None  # one read: safe across threads
        if last is not None and last[0] is feats:
            return dict(last[1])
        z = np.clip(self.logits(feats), -30.0, 30.0)
        probs = 1.0 / (1.0 + np.exp(-z))
        out = {name: float(p) for name, p in zip(self.heads, probs, strict=True)}
        self._last[:] = [(feats, out)]
        return dict(out)

    def threshold(self, head: str, default: float = 0.5) -> float:
        """The calibrated threshold of ``head`` (``default`` if none was stored)."""
        if head in self.heads and len(self.thresholds) == len(self.heads):
            return self.thresholds[self.heads.index(head)]
        return default

    def save(self, path: str | Path) -> None:
        """Write the model as a compressed ``.npz`` (weights in float16)."""
        np.savez_compressed(
            Path(path),
            hashed=self.hashed.astype(np.float16),
            dense=self.dense.astype(np.float32),
            bias=self.bias.astype(np.float32),
            heads=np.array(self.heads),
            thresholds=np.array(self.thresholds, dtype=np.float64),
            features=np.array(FEATURE_NAMES),
            meta=np.array(self.meta),
        )

    @classmethod
    def load(cls, path: str | Path) -> LinearModel:
        """Read a model written by `save`.

        Raises:
            ValueError: The file is not a model of this feature layout.
            OSError: The file cannot be read.
        """
        with np.load(Path(path), allow_pickle=False) as z:
            hashed = z["hashed"].astype(np.float32)
            dense, bias = z["dense"], z["bias"]
            heads = tuple(str(h) for h in z["heads"])
            if tuple(str(f) for f in z["features"]) != FEATURE_NAMES:
                raise ValueError("model was trained on a different structural feature layout")
            if hashed.shape != (N_BUCKETS, len(heads)) or dense.shape != (
                len(FEATURE_NAMES),
                len(heads),
            ):
                raise ValueError(f"bad weight shapes {hashed.shape} / {dense.shape}")
            return cls(
                hashed, dense, bias, heads, tuple(float(t) for t in z["thresholds"]), str(z["meta"])
            )
