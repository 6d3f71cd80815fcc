"""A small local knowledge base: Markdown/text passages ranked with BM25."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from rank_bm25 import BM25Plus

from tools._errors import ToolDefinitionError
from tools._tool import Tool

__all__ = ["KnowledgeBase", "Passage", "SearchHit", "split_passages"]

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_WORD = re.compile(r"\w+")
_MAX_QUERY_CHARS = 2000  # a question, or a page of keywords; the tool rejects longer
# Words so common they only add noise to tiny corpora, where IDF is unreliable.
_STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "how", "in", "is", "it"}
    | {"of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "which"}
    | {"who", "why", "with"}
)


class Passage(BaseModel):
    """One searchable chunk of a document.

    Attributes:
        source: Path of the file, relative to the knowledge base's folder.
        heading: The nearest heading above the passage, if any.
        text: The passage text.
    """

    model_config = ConfigDict(frozen=True)

    source: str
    heading: str | None = None
    text: str


class SearchHit(Passage):
    """A passage returned by a search, with its BM25 score (higher is better)."""

    score: float


def _tokens(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def split_passages(text: str, source: str, max_chars: int = 1200) -> list[Passage]:
    """Split a document into passages at headings and blank lines.

    Fenced code blocks are kept whole (their ``#`` lines are not headings), and
    consecutive short paragraphs under the same heading are merged up to
    ``max_chars`` so that passages carry enough context to rank.

    Args:
        text: Document text (Markdown or plain).
        source: Name recorded on each passage.
        max_chars: Soft limit on merged passage size.

    Returns:
        Passages in document order; empty paragraphs are dropped.
    """
    passages: list[Passage] = []
    heading: str | None = None
    block: list[str] = []
    paragraphs: list[str] = []
    in_fence = False

    def close_paragraph() -> None:
        if any(line.strip() for line in block):
            paragraphs.append("\n".join(block).strip())
        block.clear()

    def close_section() -> None:
        close_paragraph()
        merged = ""
        for para in paragraphs:
            if merged and len(merged) + len(para) + 2 > max_chars:
                passages.append(Passage(source=source, heading=heading, text=merged))
                merged = ""
            merged = f"{merged}\n\n{para}" if merged else para
        if merged:
            passages.append(Passage(source=source, heading=heading, text=merged))
        paragraphs.clear()

    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            close_section()
            heading = match.group(2) or None
        elif not line.strip() and not in_fence:
            close_paragraph()
        else:
            block.append(line)
    close_section()
    return passages


class KnowledgeBase:
    """Passages from local documents, searchable with BM25 (the BM25+ variant).

    BM25+ keeps every term's IDF positive, which matters for the handful of
    documents a local knowledge base often has (plain Okapi IDF goes to zero or
    below for a term in half the documents). Passages are indexed with their
    heading so that a section title counts as evidence.

    Example:
        >>> kb = KnowledgeBase([Passage(source="a.md", text="Refunds take 5 days.")])
        >>> kb.search("refunds")[0].source
        'a.md'
    """

    def __init__(self, passages: Iterable[Passage]) -> None:
        """Index ``passages`` (empty is allowed; every search then finds nothing)."""
        self.passages: tuple[Passage, ...] = tuple(passages)
        self._docs = [_tokens(f"{p.heading or ''}\n{p.text}") for p in self.passages]
        self._bm25 = BM25Plus(self._docs) if any(self._docs) else None

    @classmethod
    def from_folder(
        cls, path: str | Path, *, suffixes: Sequence[str] = (".md", ".txt"), max_chars: int = 1200
    ) -> KnowledgeBase:
        """Load every matching file under ``path`` (recursively, in sorted order).

        Args:
            path: Folder to read.
            suffixes: File suffixes to include.
            max_chars: Soft limit on passage size.

        Returns:
            The knowledge base.

        Raises:
            ToolDefinitionError: ``path`` is not a folder.
        """
        root = Path(path)
        if not root.is_dir():
            raise ToolDefinitionError(f"knowledge base folder not found: {root}")
        passages: list[Passage] = []
        for file in sorted(root.rglob("*")):
            if file.is_file() and file.suffix.lower() in suffixes:
                text = file.read_text(encoding="utf-8", errors="replace")
                passages.extend(split_passages(text, file.relative_to(root).as_posix(), max_chars))
        return cls(passages)

    def warm(self) -> None:
        """Run one search, so the first real one does not pay numpy's first calls.

        The index itself is built at construction; `as_tool` hands this to the
        tool as its ``warm`` hook (``agentkit.Runner.start`` calls it).
        """
        self.search("warm up the index")

    def search(self, query: str, k: int = 3) -> list[SearchHit]:
        """Return up to ``k`` passages sharing at least one term with ``query``, best first.

        Args:
            query: Free-text query.
            k: Maximum number of hits.

        Returns:
            Hits sorted by descending score (ties keep document order).
        """
        terms = _tokens(query)
        if self._bm25 is None or not terms or k < 1:
            return []
        scores = self._bm25.get_scores(terms)
        wanted = set(terms)
        ranked = sorted(
            (i for i, doc in enumerate(self._docs) if wanted.intersection(doc)),
            key=lambda i: -float(scores[i]),
        )
        return [
            SearchHit(**self.passages[i].model_dump(), score=round(float(scores[i]), 4))
            for i in ranked[:k]
        ]

    def as_tool(
        self, name: str = "kb_search", description: str | None = None, default_k: int = 3
    ) -> Tool:
        """Expose :meth:`search` as a tool returning hits as compact JSON.

        Args:
            name: Tool name.
            description: Tool description; a generic one by default.
            default_k: Hits returned when the model does not say.

        Returns:
            The tool.
        """
        kb = self

        def kb_search(
            # Search costs a pass over every passage per query word: 1 MB took 2.5 s.
            query: Annotated[str, Field(min_length=1, max_length=_MAX_QUERY_CHARS)],
            k: Annotated[int, Field(ge=1, le=20)] = default_k,
        ) -> list[SearchHit]:
            """Search the local knowledge base and return the most relevant passages.

            Args:
                query: Keywords or a question describing what to look up.
                k: How many passages to return.
            """
            return kb.search(query, k)

        built = Tool.from_function(kb_search, name=name, description=description, timeout_s=5.0)
        built.warm = self.warm
        return built
