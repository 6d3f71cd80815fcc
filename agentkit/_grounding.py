"""`Grounding`: find the knowledge-base sentences that answer a question, and quote them.

A 135M model copies badly and invents easily; a sentence of the policy that
answers the question is right by construction. `Grounding` ranks every
sentence of a `tools.KnowledgeBase` by a hybrid score:

- the cosine between the question and the sentence (with its section heading)
  in MiniLM space (`router._embed`, loaded lazily; users rarely use the
  documents' words: "cash machine" for "ATM", "nicked" for "stolen");
- the cosine between the question and the sentence's whole passage (context);
- a BM25 score over lightly stemmed words (exact terms: "SWIFT", "PIN").

`extract` returns the best sentence, joined by the next sentences of the same
passage whose score is close (an answer that spans two sentences: "Refunds of
up to 100 EUR are credited at once. Larger refunds ... within 10 business
days."), with a confidence: the best hybrid score. `passages` gives the
top passages for the answer check. Without the embedding layer (no torch or
wheel) the ranking is BM25 alone, and confidences are lower.

Example:
    >>> from tools import KnowledgeBase, Passage
    >>> kb = KnowledgeBase([Passage(source="a.md", heading="Limits",
    ...     text="The daily ATM limit is 500 EUR. Limits reset at midnight.")])
    >>> grounding = Grounding(kb, embed=None)
    >>> grounding.extract("When do limits reset?").text
    'Limits reset at midnight.'
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import structlog
from rank_bm25 import BM25Plus

from tools import KnowledgeBase, Passage

__all__ = ["EmbedFn", "Extract", "Grounding", "default_embedder", "split_sentences"]

_log = structlog.get_logger("agentkit")

EmbedFn = Callable[[Sequence[str]], np.ndarray]
"""Texts → ``(N, D)`` L2-normalised rows (MiniLM: ``EmbeddingLayer.embed``)."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
_WORD = re.compile(r"\w+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "my",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "me",
    ]
)
_SUFFIXES = ("ing", "ed", "es", "s", "e")


def default_embedder() -> EmbedFn | None:
    """The router's shared MiniLM sentence embedder, or None where it cannot run here.

    Loads it on first call (~1-4 s: torch, weights, int8 calibration); later
    calls return the same function. Rows are L2-normalised: a dot product is a
    cosine.
    """
    from router._embed import EmbeddingLayer

    layer = EmbeddingLayer.shared() if EmbeddingLayer.available() else None
    return layer.embed if layer is not None else None


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (line breaks inside a paragraph joined).

    Example:
        >>> split_sentences("Freeze it (Cards > Freeze).\\nIt costs 0.5% a day. Done!")
        ['Freeze it (Cards > Freeze).', 'It costs 0.5% a day.', 'Done!']
    """
    flat = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(flat) if s.strip()]


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _terms(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP]


@dataclass(frozen=True)
class Extract:
    """An extractive answer: sentences quoted from one passage.

    Attributes:
        text: The sentences, in document order.
        score: The confidence: the best sentence's hybrid score (higher is surer).
        source: The passage's file.
        heading: The passage's heading.
        passage: The whole passage the sentences come from.
    """

    text: str
    score: float
    source: str
    heading: str | None
    passage: str

    @property
    def key(self) -> str:
        """``source#heading``: the passage's name in evaluation files."""
        return f"{self.source}#{self.heading or ''}"


@dataclass(frozen=True)
class _Sentence:
    passage: int
    text: str


class Grounding:
    """Hybrid sentence retrieval over a knowledge base, and extractive answers.

    Args:
        kb: The knowledge base.
        embed: Sentence embeddings: ``"auto"`` (the router's shared MiniLM layer,
            when it can run here), a function, or None (BM25 only).
        sentence_weight: Weight of the sentence cosine.
        passage_weight: Weight of the passage cosine.
        bm25_weight: Weight of the BM25 score (scaled to [0, 1] per question).
        join_within: Further sentences of the best passage join the answer when
            their score is within this much of the best.
        max_sentences: Sentences in one extract.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        embed: EmbedFn | str | None = "auto",
        sentence_weight: float = 1.0,
        passage_weight: float = 0.5,
        bm25_weight: float = 0.3,
        join_within: float = 0.2,
        max_sentences: int = 2,
    ) -> None:
        self.kb = kb
        self.weights = (sentence_weight, passage_weight, bm25_weight)
        self.join_within = join_within
        self.max_sentences = max_sentences
        self._embed_arg = embed
        self._sentences = [
            _Sentence(i, s) for i, p in enumerate(kb.passages) for s in split_sentences(p.text)
        ]
        docs = [_terms(f"{self._heading(s.passage)} {s.text}") for s in self._sentences]
        self._bm25 = BM25Plus(docs) if any(docs) else None
        self._vectors: tuple[np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()

    def _heading(self, index: int) -> str:
        return self.kb.passages[index].heading or ""

    def _embedder(self) -> EmbedFn | None:
        if self._embed_arg is None or callable(self._embed_arg):
            return self._embed_arg
        self._embed_arg = default_embedder()
        return self._embed_arg

    def _index(self, embed: EmbedFn) -> tuple[np.ndarray, np.ndarray]:
        """Sentence and passage vectors, computed once."""
        with self._lock:
            if self._vectors is None:
                passages = self.kb.passages
                sentences = embed(
                    [f"{self._heading(s.passage)}: {s.text}" for s in self._sentences]
                )
                whole = embed([f"{p.heading or ''}: {p.text}" for p in passages])
                self._vectors = (np.asarray(sentences), np.asarray(whole))
            return self._vectors

    def warm(self) -> None:
        """Load the embedding layer and embed the knowledge base now (not in a turn)."""
        self.scores("warm up")

    def scores(self, question: str) -> np.ndarray:
        """The hybrid score of every sentence for ``question`` (shape ``(n_sentences,)``)."""
        n = len(self._sentences)
        total = np.zeros(n, dtype=np.float64)
        if n == 0 or not question.strip():
            return total
        w_sentence, w_passage, w_bm25 = self.weights
        terms = _terms(question)
        if self._bm25 is not None and terms:
            bm25 = np.asarray(self._bm25.get_scores(terms), dtype=np.float64)
            top = float(bm25.max())
            if top > 0:
                total += w_bm25 * bm25 / top
        embed = self._embedder()
        if embed is not None:
            sentences, whole = self._index(embed)
            q = np.asarray(embed([question]))[0]
            owner = np.array([s.passage for s in self._sentences])
            total += w_sentence * (sentences @ q) + w_passage * (whole @ q)[owner]
        return total

    def extract(self, question: str) -> Extract | None:
        """The sentences that best answer ``question``, or None (nothing in common)."""
        scores = self.scores(question)
        if scores.size == 0 or not question.strip() or float(scores.max()) <= 0.0:
            return None  # nothing in common with any sentence
        best = int(np.argmax(scores))
        owner = self._sentences[best].passage
        close = [
            i
            for i in np.argsort(-scores)
            if self._sentences[i].passage == owner and scores[i] >= scores[best] - self.join_within
        ][: self.max_sentences]
        text = " ".join(self._sentences[i].text for i in sorted(close))
        passage: Passage = self.kb.passages[owner]
        return Extract(
            text, round(float(scores[best]), 4), passage.source, passage.heading, passage.text
        )

    def search(self, question: str, k: int = 3) -> list[Passage]:
        """The ``k`` passages holding the best-scored sentences, best first."""
        scores = self.scores(question)
        seen: list[int] = []
        for i in np.argsort(-scores):
            owner = self._sentences[int(i)].passage
            if owner not in seen:
                seen.append(owner)
            if len(seen) == k:
                break
        return [self.kb.passages[i] for i in seen]

    def passages(self, question: str, k: int = 3) -> list[str]:
        """Texts of the top ``k`` passages (the answer check's grounding for ``question``)."""
        return [f"{p.heading or ''}: {p.text}" for p in self.search(question, k)]
