"""Target-written data through the engine's own batched scheduler, resumable.

The target answers each job (a prompt, greedy or sampled) with
`Engine.generate`: the production path, many sequences in flight in the
continuous-batching scheduler (prefix cache and speculation as served), with
``top_logprobs`` = k, so each response position keeps the target's top-k
log-probabilities (its raw distribution) as the draft's training target. No
second teacher pass and no fp32 mirror: the numbers are the served model's.

Output folder::

    prompts.jsonl   the prompt set, frozen at the first run (split included)
    jobs.json       (prompt index, sampled) per job, in generation order
    manifest.json   generation settings + the finished shards and their jobs
    shards/shard-NNNNN.pt   samples (`engine.distill._data.Sample`)

A shard is written (temp name, then renamed), then the manifest (same);
a run killed between the two regenerates that shard's jobs. A later run with
the same settings skips every job the manifest lists and continues.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import anyio
import torch

from engine._engine import Engine
from engine._errors import EngineConfigError
from engine._types import GenerationResult, SamplingParams
from engine.distill._corpus import PromptSpec
from engine.distill._data import Sample, read_prompts, save_shard

__all__ = ["GenConfig", "GenProgress", "generate", "plan_jobs", "read_manifest"]

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class GenConfig:
    """Settings of one generation run (all but the budgets must match to resume).

    Attributes:
        max_new: response length cap (tokens).
        sampled_fraction: share of training prompts also answered by sampling.
        temperature: temperature of the sampled answers.
        top_k: log-probabilities kept per response position (≤ 20, the engine's cap).
        seed: seeds the job order and each sampled answer.
        max_prompt_tokens: longer rendered prompts are skipped (counted in the manifest).
        shard_size: samples per shard (what an interruption can lose).
    """

    max_new: int = 128
    sampled_fraction: float = 0.3
    temperature: float = 0.7
    top_k: int = 20
    seed: int = 0
    max_prompt_tokens: int = 768
    shard_size: int = 64

    def __post_init__(self) -> None:
        if self.max_new < 1 or not 1 <= self.top_k <= 20 or self.shard_size < 1:
            raise EngineConfigError("max_new >= 1, top_k in [1, 20], shard_size >= 1 required")
        if not 0.0 <= self.sampled_fraction <= 1.0 or self.temperature <= 0:
            raise EngineConfigError("sampled_fraction must be in [0, 1] and temperature > 0")


class GenProgress(Protocol):
    """Where a generation run reports progress (the CLI draws a bar and logs lines)."""

    def start(self, target_tokens: int, done_tokens: int, jobs_left: int) -> None:
        """The run starts with ``done_tokens`` of ``target_tokens`` already written."""

    def update(self, tokens: int, samples: int, info: str) -> None:
        """``tokens`` more response tokens written in ``samples`` samples."""


class _Quiet:
    def start(self, target_tokens: int, done_tokens: int, jobs_left: int) -> None:
        pass

    def update(self, tokens: int, samples: int, info: str) -> None:
        pass


def _h(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big")


def plan_jobs(prompts: Sequence[PromptSpec], cfg: GenConfig) -> list[tuple[int, bool]]:
    """(prompt index, sampled) per job: held-out greedy answers first, then a hashed shuffle.

    Every prompt gets a greedy answer; a training prompt also gets a sampled one
    when its hash falls under ``sampled_fraction``. Held-out prompts come first
    so the report's data exists however early a run stops.
    """
    jobs = [(i, False) for i in range(len(prompts))]
    jobs += [
        (i, True)
        for i, p in enumerate(prompts)
        if not p.heldout and _h(cfg.seed, "sampled", p.key) % 10_000 < cfg.sampled_fraction * 1e4
    ]
    return sorted(
        jobs, key=lambda j: (not prompts[j[0]].heldout, _h(cfg.seed, *j, prompts[j[0]].key))
    )


def read_manifest(out: pathlib.Path) -> dict[str, Any] | None:
    """The manifest of ``out``, or None before the first shard."""
    path = out / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def _write_json(path: pathlib.Path, body: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body))
    tmp.replace(path)


def _prepare(
    out: pathlib.Path, prompts: Sequence[PromptSpec], cfg: GenConfig
) -> tuple[list[PromptSpec], list[tuple[int, bool]], dict[str, Any]]:
    """Freeze the prompt set and jobs at the first run; check the settings on later ones."""
    (out / "shards").mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out)
    if manifest is None:
        frozen = list(prompts)
        lines = [json.dumps(p.to_json()) for p in frozen]
        (out / "prompts.jsonl").write_text("\n".join(lines) + "\n")
        jobs = plan_jobs(frozen, cfg)
        _write_json(out / "jobs.json", jobs)
        manifest = {
            "version": MANIFEST_VERSION, "config": asdict(cfg), "prompts": len(frozen),
            "heldout_prompts": sum(p.heldout for p in frozen), "jobs": len(jobs),
            "skipped_long": [], "shards": [],
        }  # fmt: skip
        _write_json(out / "manifest.json", manifest)
        return frozen, jobs, manifest
    if manifest["config"] != asdict(cfg):
        raise EngineConfigError(
            f"{out} was generated with {manifest['config']}, not {asdict(cfg)}: "
            "use the same settings to continue, or another folder"
        )
    frozen = read_prompts(out / "prompts.jsonl")
    jobs = [(int(i), bool(s)) for i, s in json.loads((out / "jobs.json").read_text())]
    return frozen, jobs, manifest


def _sample(
    job: int, spec: PromptSpec, sampled: bool, ids: list[int], res: GenerationResult, k: int
) -> Sample:
    """The prompt + answer with the target's top-k at each response position.

    A final stop-id token has no log-probabilities in the result: it is recorded
    as certain (it was the target's choice there).
    """
    top = res.token_logprobs or []
    n = len(res.token_ids)
    top_ids = torch.zeros(n, k, dtype=torch.int32)
    top_logp = torch.full((n, k), float("-inf"), dtype=torch.float16)
    for i, entry in enumerate(top[:n]):
        pairs = entry.top[:k]
        top_ids[i, : len(pairs)] = torch.tensor([t for t, _ in pairs], dtype=torch.int32)
        top_logp[i, : len(pairs)] = torch.tensor([lp for _, lp in pairs], dtype=torch.float16)
    for i in range(len(top), n):  # the stop token
        top_ids[i, 0], top_logp[i, 0] = res.token_ids[i], 0.0
    return Sample(
        category=spec.category, heldout=spec.heldout, tokens=[*ids, *res.token_ids],
        n_prompt=len(ids), top_ids=top_ids, top_logp=top_logp, sampled=sampled, job=job,
    )  # fmt: skip


def _params(spec: PromptSpec, sampled: bool, key: str, cfg: GenConfig) -> SamplingParams:
    return SamplingParams(
        temperature=cfg.temperature if sampled else 0.0,
        seed=_h(cfg.seed, "answer", key) % 2**62 if sampled else None,
        max_tokens=cfg.max_new, stop=spec.stop, top_logprobs=cfg.top_k,
    )  # fmt: skip


class _Writer:
    """Collects finished samples and writes shards + the manifest."""

    def __init__(self, out: pathlib.Path, manifest: dict[str, Any], cfg: GenConfig) -> None:
        self.out, self.manifest, self.cfg = out, manifest, cfg
        self.pending: list[Sample] = []
        self.tokens = sum(s["tokens"] for s in manifest["shards"])

    def add(self, sample: Sample) -> None:
        self.pending.append(sample)
        self.tokens += len(sample.tokens) - sample.n_prompt
        if len(self.pending) >= self.cfg.shard_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        shards = self.manifest["shards"]
        name = f"shard-{len(shards):05d}.pt"
        save_shard(self.out / "shards" / name, self.pending)
        shards.append({
            "file": name, "samples": len(self.pending),
            "tokens": sum(len(s.tokens) - s.n_prompt for s in self.pending),
            "jobs": [s.job for s in self.pending],
        })  # fmt: skip
        _write_json(self.out / "manifest.json", self.manifest)
        self.pending = []


def generate(
    engine: Engine,
    prompts: Sequence[PromptSpec],
    out: pathlib.Path,
    cfg: GenConfig,
    *,
    target_tokens: int,
    time_limit_s: float | None = None,
    concurrency: int = 16,
    progress: GenProgress | None = None,
) -> dict[str, Any]:
    """Answer jobs through ``engine`` until ``target_tokens`` response tokens exist (resumable).

    Args:
        engine: the target (`Engine.load`): its scheduler runs every request.
        prompts: the prompt set (ignored when ``out`` already holds one).
        out: output folder (see the module doc).
        cfg: generation settings.
        target_tokens: stop starting jobs once this many response tokens are written.
        time_limit_s: stop after this long (requests in flight are cancelled, not saved).
        concurrency: requests in flight (at most the engine's KV slots).
        progress: receives progress.

    Returns:
        The manifest.
    """
    prog: GenProgress = progress or _Quiet()
    frozen, jobs, manifest = _prepare(out, prompts, cfg)
    done = {j for s in manifest["shards"] for j in s["jobs"]} | set(manifest["skipped_long"])
    todo = [j for j in range(len(jobs)) if j not in done]
    writer = _Writer(out, manifest, cfg)
    prog.start(target_tokens, writer.tokens, len(todo))
    deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
    anyio.run(_drive, engine, frozen, jobs, todo, writer, cfg, target_tokens, deadline,
              min(concurrency, engine.cache.n_slots), prog)  # fmt: skip
    writer.flush()
    manifest["written_tokens"] = writer.tokens
    _write_json(out / "manifest.json", manifest)
    return manifest


async def _drive(
    engine: Engine, prompts: list[PromptSpec], jobs: list[tuple[int, bool]], todo: list[int],
    writer: _Writer, cfg: GenConfig, target: int, deadline: float | None, workers: int,
    prog: GenProgress,
) -> None:  # fmt: skip
    """``workers`` tasks each take the next job until the target, the deadline or the end."""
    queue = iter(todo)
    stop = anyio.Event()

    async def watch() -> None:
        while deadline is not None and not stop.is_set():
            if time.monotonic() >= deadline:
                stop.set()
            await anyio.sleep(0.5)

    async def worker() -> None:
        for j in queue:
            if stop.is_set() or writer.tokens >= target:
                return
            i, sampled = jobs[j]
            spec = prompts[i]
            ids = engine.encode(engine.render_chat(list(spec.messages)))
            if len(ids) > cfg.max_prompt_tokens:
                writer.manifest["skipped_long"].append(j)
                continue
            res = await engine.generate(ids, _params(spec, sampled, spec.key, cfg), cancel=stop)
            if res.finish_reason in ("cancelled", "deadline"):
                return
            sample = _sample(j, spec, sampled, ids, res, cfg.top_k)
            writer.add(sample)
            prog.update(len(res.token_ids), 1, f"{spec.category} {res.finish_reason}")

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        async with anyio.create_task_group() as pool:
            for _ in range(workers):
                pool.start_soon(worker)
        stop.set()
