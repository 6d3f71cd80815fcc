"""Distillation data: samples (the target's answers with its top-k distributions) and shards.

A `Sample` is a prompt and the target's answer, with the target's top-k
log-probabilities at each response position (`engine.distill._generate`
writes them). Shards are ``torch.save`` lists of samples; training streams
them (`iter_shards`), a few at a time, so memory does not grow with the data.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from engine.distill._corpus import CorpusError, PromptSpec, read_jsonl

__all__ = ["Sample", "iter_shards", "load_shards", "read_prompts", "save_shard", "shard_files"]


@dataclass
class Sample:
    """A prompt + the target's response, with its top-k distribution at each response position.

    Attributes:
        category, heldout: from the prompt.
        tokens: prompt + response token ids.
        n_prompt: length of the prompt part.
        top_ids: (R, k) int32 most likely next tokens at each response position.
        top_logp: (R, k) float16 their log-probabilities (full-vocabulary softmax;
            -inf pads a position with fewer than k).
        sampled: the response was sampled (else greedy).
        job: index of the job (prompt, sampled) in the run.
    """

    category: str
    heldout: bool
    tokens: list[int]
    n_prompt: int
    top_ids: torch.Tensor
    top_logp: torch.Tensor
    sampled: bool = False
    job: int = -1


def read_prompts(path: str | pathlib.Path) -> list[PromptSpec]:
    """Read a JSONL prompt set (split on ``"\\n"`` only).

    Each line is a `PromptSpec.to_json` object, or the short form
    ``{"category", "messages" | "prompt", "heldout"?}`` of the bundled set.

    Raises:
        CorpusError: a line without a category or any prompt text.
    """
    out = []
    for n, raw in enumerate(read_jsonl(path), 1):
        msgs = raw.get("messages") or [{"role": "user", "content": raw.get("prompt", "")}]
        if "category" not in raw or not msgs[-1].get("content"):
            raise CorpusError(f"{path}:{n}: need a category and a non-empty prompt")
        key = raw.get("key") or hashlib.sha256(json.dumps(msgs).encode()).hexdigest()[:16]
        out.append(PromptSpec.from_json({
            "key": key, "category": raw["category"], "source": raw.get("source", ""),
            "messages": msgs, "heldout": bool(raw.get("heldout", False)),
            "stop": raw.get("stop", []),
        }))  # fmt: skip
    return out


def save_shard(path: pathlib.Path, samples: Sequence[Sample]) -> None:
    """Write samples to one ``torch.save`` shard (written to a temp name, then renamed)."""
    body: list[dict[str, Any]] = [vars(s) for s in samples]
    tmp = path.with_suffix(".tmp")
    torch.save(body, tmp)
    tmp.replace(path)


def shard_files(out: pathlib.Path) -> list[pathlib.Path]:
    """The finished shards of a run folder: those its manifest lists (else every ``shard-*.pt``)."""
    manifest = out / "manifest.json"
    if manifest.exists():
        return [out / "shards" / s["file"] for s in json.loads(manifest.read_text())["shards"]]
    return sorted((out / "shards").glob("shard-*.pt"))


def _load(path: pathlib.Path) -> list[Sample]:
    return [Sample(**d) for d in torch.load(path, weights_only=True)]


def iter_shards(files: Sequence[pathlib.Path]) -> Iterator[Sample]:
    """The samples of ``files``, one shard in memory at a time."""
    for p in files:
        yield from _load(p)


def load_shards(folder: pathlib.Path) -> list[Sample]:
    """Every sample of a run folder (or a bare shards folder), in shard order (small runs)."""
    files = (
        shard_files(folder) if (folder / "shards").is_dir() else sorted(folder.glob("shard-*.pt"))
    )
    return list(iter_shards(files))
