"""The harm second opinion: a learned check for harmful requests from unseen sources.

The shipped filter (lexicons, intent patterns and the dev-trained model) catches
about a third of the harmful requests of sources it never saw. This layer was
trained on ``dev.jsonl`` plus the ``train/`` corpus (25 files, 26 sources) and asks two
models, cheapest first:

1. **gate**: a logistic head over the router's hashed n-grams and structural
   features (`router._linear.featurize`, microseconds). Below ``gate_threshold`` the text
   is cleared here, and no embedding is computed.
2. **embedding head**: a logistic head over MiniLM sentence embeddings
   (`router._embed.EmbeddingLayer`, a few milliseconds). The text is flagged when
   it scores at least ``flag_threshold`` (and passed the gate).

Both must agree. Each alone learns the *topic* of harm and flags safe look-alikes
("how do I execute a large order without moving the price?"); the two read the
text differently (surface n-grams, sentence meaning) and their agreement gives
the better trade-off (docs/routing.md). Both thresholds are chosen by
`router._harm_train` on out-of-source scores, not by eye.

Without the embedding wheel (or torch) the layer is off: one
``embedding_layer_unavailable`` log line, and the gate alone never flags.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import structlog

from router._features import FEATURE_NAMES
from router._layered import _calibrate  # the router's shift: a threshold lands on 0.5
from router._linear import Features, LinearModel

__all__ = [
    "EMBED_CHARS",
    "HarmModel",
    "HarmOpinion",
    "bundled_harm_path",
    "load_harm_model",
    "second_opinion",
]

_log = structlog.get_logger("router")
# The embedding head reads the first 256 characters (about 64 tokens), in training
# and at run time: a call then costs about 7-8 ms (63 tokens: p50 7.0, p99 7.9), not 14-20 ms,
# so a check that runs it should stay under the 10 ms p99 target (the rest: 0.4 ms at p50).
EMBED_CHARS = 256
_MODELS: dict[str, HarmModel | None] = {}
# How many times the embedding head ran in this process (`agentkit eval` reports the
# share of rows that needed it: the layer's cost is that share times a few ms).
EMBEDDED = [0]
_EMBEDDED_LOCK = threading.Lock()
_MISSING = object()
_LOCK = threading.Lock()


@dataclass(frozen=True)
class HarmOpinion:
    """What the second opinion said about one text.

    Attributes:
        gate: The n-gram head's probability.
        embedding: The embedding head's probability (None: not asked, or unavailable).
        flagged: Both passed their thresholds.
        score: The embedding head's probability shifted so that the model's
            ``flag_threshold`` sits at 0.5 (0 when it was not asked): comparable
            with the filter's scores.
    """

    gate: float
    embedding: float | None
    flagged: bool
    score: float


@dataclass(frozen=True)
class HarmModel:
    """Gate and embedding head, with the thresholds chosen on out-of-source scores.

    Attributes:
        ngram: One-head (``harm``) `LinearModel` over the router's features.
        emb_w: ``(384,)`` weights of the embedding head.
        emb_b: Its intercept.
        gate_threshold: Gate probability at which the embedding head is asked.
        flag_threshold: Embedding-head probability that flags (after the gate).
        meta: The training report (JSON).
    """

    ngram: LinearModel
    emb_w: np.ndarray
    emb_b: float
    gate_threshold: float
    flag_threshold: float
    meta: str = "{}"

    def gate_score(self, feats: Features) -> float:
        """The gate's probability for one featurised text."""
        return self.ngram.predict(feats)["harm"]

    def embedding_score(self, vector: np.ndarray) -> float:
        """The embedding head's probability for one ``(384,)`` unit vector."""
        z = float(np.clip(vector @ self.emb_w + self.emb_b, -30.0, 30.0))
        return 1.0 / (1.0 + float(np.exp(-z)))

    def save(self, path: str | Path) -> None:
        """Write everything to one compressed ``.npz`` (n-gram weights in float16)."""
        np.savez_compressed(
            Path(path),
            hashed=self.ngram.hashed.astype(np.float16),
            dense=self.ngram.dense.astype(np.float32),
            bias=self.ngram.bias.astype(np.float32),
            features=np.array(FEATURE_NAMES),
            emb_w=self.emb_w.astype(np.float32),
            emb_b=np.float32(self.emb_b),
            gate=np.float64(self.gate_threshold),
            flag=np.float64(self.flag_threshold),
            meta=np.array(self.meta),
        )

    @classmethod
    def load(cls, path: str | Path) -> HarmModel:
        """Read a file written by `save`.

        Raises:
            ValueError: the file's features are not this version's, or a shape is wrong.
        """
        with np.load(Path(path), allow_pickle=False) as z:
            if tuple(str(f) for f in z["features"]) != FEATURE_NAMES:
                raise ValueError("harm model was trained on other structural features")
            hashed = z["hashed"].astype(np.float32)
            emb_w = z["emb_w"].astype(np.float64)
            if hashed.ndim != 2 or hashed.shape[1] != 1 or emb_w.shape != (384,):
                raise ValueError(f"harm model shapes {hashed.shape}, {emb_w.shape}")
            ngram = LinearModel(
                hashed, z["dense"].astype(np.float32), z["bias"].astype(np.float32), ("harm",)
            )
            gate, flag = float(z["gate"]), float(z["flag"])
            if not (0.0 < gate < 1.0 and 0.0 < flag < 1.0):
                raise ValueError(f"harm model thresholds out of range: {gate}, {flag}")
            return cls(ngram, emb_w, float(z["emb_b"]), gate, flag, str(z["meta"]))

    def report(self) -> dict[str, object]:
        """The training report stored with the model."""
        return dict(json.loads(self.meta or "{}"))


def bundled_harm_path() -> Path:
    """Path of the shipped harm model (``router/data/harm_model.npz``)."""
    return Path(str(resources.files("router") / "data" / "harm_model.npz"))


def load_harm_model(path: str | Path | None = None) -> HarmModel | None:
    """Load (once per path) a harm model; None, with one warning, when unusable."""
    key = str(path) if path else ""
    hit = _MODELS.get(key, _MISSING)
    if hit is not _MISSING:  # asked on every input check: no lock once loaded
        return hit  # type: ignore[return-value]
    with _LOCK:
        if key not in _MODELS:
            where = key or str(bundled_harm_path())
            try:
                _MODELS[key] = HarmModel.load(where)
            except Exception as exc:  # a missing or corrupt file turns the layer off
                _log.warning("harm_model_unavailable", path=where, error=repr(exc))
                _MODELS[key] = None
        return _MODELS[key]


def second_opinion(text: str, model: HarmModel, feats: Features) -> HarmOpinion:
    """Ask the gate, then (only past it) the embedding head, about a normalised text.

    Args:
        text: The normalised text (the embedding reads its first `EMBED_CHARS`).
        model: The harm model.
        feats: The text's features (`router._textcache.cached_features`), shared
            with the filter's own model, so the gate costs one dot product.
    """
    gate = model.gate_score(feats)
    if gate < model.gate_threshold:
        return HarmOpinion(gate, None, False, 0.0)
    from router._embed import EmbeddingLayer  # numpy-only until the layer first loads

    layer = EmbeddingLayer.shared()
    if layer is None:
        return HarmOpinion(gate, None, False, 0.0)
    with _EMBEDDED_LOCK:
        EMBEDDED[0] += 1
    p = model.embedding_score(layer.embed([text[:EMBED_CHARS]])[0])
    return HarmOpinion(gate, p, p >= model.flag_threshold, _calibrate(p, model.flag_threshold))
