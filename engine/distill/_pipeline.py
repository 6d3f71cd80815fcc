"""`distill`: train a small draft for a target on text the target itself writes.

Steps (each resumable from ``out``):

1. generate — the target answers every prompt (greedy; optionally also a
   sampled answer for part of the training prompts); its top-k next-token
   distribution at every response position is kept (``out/shards``);
2. choose the kept vocabulary — the K tokens the target emits most, topped
   up with the lowest ids (byte-level BPE ids roughly follow merge frequency);
3. train — a few target blocks copied into a plain torch draft, trained
   against the target's distributions (``out/checkpoint.pt``);
4. report — held-out greedy acceptance per category, before and after, next
   to the exported draft (``draft.json``, ``draft.safetensors``, ``report.json``).
"""

from __future__ import annotations

import datetime
import json
import pathlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import torch

from engine.distill._data import (
    PromptRow,
    Sample,
    generate_samples,
    load_prompts,
    load_shards,
    save_shard,
)
from engine.distill._mirror import MirrorLlama
from engine.distill._train import acceptance, train
from engine.loader import load_model
from engine.speculative._draft_io import DraftSpec, tokenizer_fingerprint, write_draft

__all__ = ["DistillConfig", "DistillProgress", "default_prompts_path", "distill"]

_SHARD = 32  # samples per shard file: bounds the work lost to an interruption


def default_prompts_path() -> pathlib.Path:
    """The prompt set the shipped draft was trained on (copied into the package)."""
    return pathlib.Path(__file__).parent / "data" / "distill_prompts.jsonl"


@dataclass(frozen=True)
class DistillConfig:
    """Everything that determines a distillation run.

    Attributes:
        out: output folder (shards, checkpoint, draft, report).
        target: ``"default"`` or a model path `engine.loader.load_model` reads.
        prompts: JSONL prompt set (see `load_prompts`); None: `default_prompts_path`.
        steps: optimizer steps.
        resume: reuse finished shards and continue from the last checkpoint.
        init_layers: target blocks the draft starts from (negative = from the end).
        kept_vocab: rows of the draft's cut head.
        max_new: response length cap when generating.
        gen_batch: sequences the target generates together.
        sampled_fraction: share of training prompts also answered by sampling.
        temperature: sampling temperature for those answers.
        top_k: target log-probs kept per position.
        batch_seqs: sequences per training step.
        max_len: sequence length cap in training.
        lr: peak learning rate.
        seed: seed of sampling and data order.
        limit: use only the first N prompts (smoke runs).
    """

    out: pathlib.Path
    target: str = "default"
    prompts: pathlib.Path | None = None
    steps: int = 400
    resume: bool = False
    init_layers: tuple[int, ...] = (0, 1)
    kept_vocab: int = 8192
    max_new: int = 128
    gen_batch: int = 32
    sampled_fraction: float = 0.0
    temperature: float = 0.7
    top_k: int = 32
    batch_seqs: int = 8
    max_len: int = 256
    lr: float = 1e-3
    seed: int = 0
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.steps < 1 or self.kept_vocab < 1 or self.max_new < 1 or self.top_k < 1:
            raise ValueError("steps, kept_vocab, max_new and top_k must be >= 1")
        if not self.init_layers:
            raise ValueError("init_layers must name at least one target block")
        if not 0.0 <= self.sampled_fraction <= 1.0 or self.temperature <= 0:
            raise ValueError("sampled_fraction must be in [0, 1] and temperature > 0")
        if self.gen_batch < 1 or self.batch_seqs < 1 or self.max_len < 8 or self.lr <= 0:
            raise ValueError("gen_batch, batch_seqs >= 1, max_len >= 8, lr > 0 required")


class DistillProgress(Protocol):
    """Where `distill` reports progress (the CLI draws a rich progress bar)."""

    def phase(self, name: str, total: int) -> None:
        """A new phase starts with ``total`` units of work."""

    def advance(self, n: int, info: str = "") -> None:
        """``n`` units done; ``info`` is a short status (e.g. the loss)."""


class _Silent:
    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, n: int, info: str = "") -> None:
        pass


def distill(cfg: DistillConfig, progress: DistillProgress | None = None) -> dict[str, Any]:
    """Run the whole distillation and write the draft and its report to ``cfg.out``.

    Returns:
        The report (also written to ``cfg.out / "report.json"``).
    """
    prog = progress or _Silent()
    t0 = time.monotonic()
    out = pathlib.Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    lm = load_model(cfg.target, max_seq_len=cfg.max_len + cfg.max_new + 8)
    rows = load_prompts(cfg.prompts or default_prompts_path())[: cfg.limit]
    samples = _generate(lm, rows, cfg, out / "shards", prog)
    t_gen = time.monotonic() - t0
    train_set = [s for s in samples if not s.heldout]
    held = [s for s in samples if s.heldout and not s.sampled]
    v = lm.config.vocab_size
    stop = _stop_ids(lm)
    kept = choose_vocab(train_set, min(cfg.kept_vocab, v), v, stop)
    to_kept = torch.full((v,), -1, dtype=torch.long)
    to_kept[kept] = torch.arange(kept.numel())
    n = lm.config.n_layers
    layer_ids = [i % n for i in cfg.init_layers]
    draft = MirrorLlama.from_transformer(lm.model, layer_ids, kept, max_len=cfg.max_len + 1)
    before = acceptance(draft, held, kept, to_kept, cfg.max_len) if held else {}
    prog.phase("train", cfg.steps)
    state = train(
        draft, train_set, to_kept, steps=cfg.steps, lr=cfg.lr, batch_seqs=cfg.batch_seqs,
        max_len=cfg.max_len, seed=cfg.seed, ckpt=out / "checkpoint.pt", resume=cfg.resume,
        on_step=lambda step, loss: prog.advance(1, f"loss {loss:.3f}"),
    )  # fmt: skip
    after = acceptance(draft, held, kept, to_kept, cfg.max_len) if held else {}
    spec = DraftSpec(
        n_layers=len(layer_ids), dim=lm.config.dim, n_heads=lm.config.n_heads,
        n_kv_heads=lm.config.n_kv_heads, head_dim=lm.config.head_dim,
        hidden_dim=lm.config.hidden_dim, norm_eps=lm.config.norm_eps,
        kept_vocab=int(kept.numel()), target_vocab_size=v,
        target_tokenizer=tokenizer_fingerprint(lm.tokenizer),
        target_name=pathlib.Path(lm.source).name, init_layers=tuple(layer_ids),
        training={"steps": state.step, "date": datetime.date.today().isoformat()},
    )  # fmt: skip
    write_draft(out, spec, draft.export_tensors(), kept)
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "target": lm.source,
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        "data": _data_stats(train_set, held),
        "kept_vocab": int(kept.numel()),
        "heldout_coverage": _coverage(held, to_kept),
        "heldout_before": before,
        "heldout": after,
        "loss_first": state.losses[:10],
        "loss_last": state.losses[-10:],
        "steps": state.step,
        "seconds": {"generate": round(t_gen, 1), "total": round(time.monotonic() - t0, 1)},
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _stop_ids(lm: Any) -> set[int]:
    stop = set(lm.config.eos_token_ids)
    im_end = lm.tokenizer.token_to_id("<|im_end|>")
    if im_end is not None:
        stop.add(int(im_end))
    return stop


def _encode(lm: Any, row: PromptRow) -> list[int]:
    text = lm.chat_template.render(list(row.messages))
    ids: list[int] = lm.tokenizer.encode(text, add_special_tokens=False).ids
    bos = lm.config.bos_token_id
    if lm.add_bos and bos is not None and (not ids or ids[0] != bos):
        ids = [bos, *ids]
    return ids


def _generate(
    lm: Any, rows: Sequence[PromptRow], cfg: DistillConfig, folder: pathlib.Path, prog: Any
) -> list[Sample]:
    """Generate (or, with ``resume``, reuse) every job's sample, saving shards as it goes."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(i, False) for i in range(len(rows))]
    g = torch.Generator().manual_seed(cfg.seed)
    train_rows = [i for i, r in enumerate(rows) if not r.heldout]
    n_sampled = round(cfg.sampled_fraction * len(train_rows))
    picks = torch.randperm(len(train_rows), generator=g)[:n_sampled].tolist()
    jobs += [(train_rows[j], True) for j in sorted(picks)]
    done: dict[tuple[int, bool], Sample] = {}
    if cfg.resume:
        for s in load_shards(folder):
            done[(s.job, s.sampled)] = s
    else:
        for p in folder.glob("shard-*.pt"):
            p.unlink()
    todo = [j for j in jobs if j not in done]
    encoded = [(_encode(lm, rows[i])[-(cfg.max_len - 1) :], sampled) for i, sampled in todo]
    prog.phase("generate", len(todo))
    if todo:
        target = MirrorLlama.from_transformer(
            lm.model, range(lm.config.n_layers), max_len=cfg.max_len + cfg.max_new + 2
        )
        fresh: list[Sample] = []
        shard_no = len(list(folder.glob("shard-*.pt")))
        for k, sample in generate_samples(
            target, encoded, stop_ids=_stop_ids(lm), max_new=cfg.max_new,
            batch=min(cfg.gen_batch, len(todo)), temperature=cfg.temperature,
            top_k=cfg.top_k, seed=cfg.seed,
        ):  # fmt: skip
            i, sampled = todo[k]
            sample.category, sample.heldout = rows[i].category, rows[i].heldout
            sample.job = i
            done[(i, sampled)] = sample
            fresh.append(sample)
            prog.advance(1, f"{len(sample.tokens) - sample.n_prompt} tokens")
            if len(fresh) == _SHARD:
                save_shard(folder / f"shard-{shard_no:05d}.pt", fresh)
                fresh, shard_no = [], shard_no + 1
        if fresh:
            save_shard(folder / f"shard-{shard_no:05d}.pt", fresh)
        del target
    return [done[j] for j in jobs]


def choose_vocab(samples: Sequence[Sample], k: int, vocab: int, always: set[int]) -> torch.Tensor:
    """The ``k`` tokens the target chose most often (its argmax), plus ``always``.

    Ties and the remainder are filled with the lowest unused ids: in byte-level
    BPE vocabularies low ids are bytes and early (frequent) merges.

    Returns:
        (k,) int64 kept token ids, most frequent first.
    """
    counts: Counter[int] = Counter()
    for s in samples:
        counts.update(s.top_ids[:, 0].tolist())
    kept = list(dict.fromkeys([*sorted(always), *(t for t, _ in counts.most_common())]))[:k]
    seen = set(kept)
    filler = (t for t in range(vocab) if t not in seen)
    kept += [next(filler) for _ in range(k - len(kept))]
    return torch.tensor(kept, dtype=torch.long)


def _coverage(held: Sequence[Sample], to_kept: torch.Tensor) -> float:
    """Share of held-out target argmax tokens inside the kept vocabulary (α's ceiling)."""
    best = [to_kept[s.top_ids[:, 0].long()] >= 0 for s in held]
    if not best:
        return 0.0
    return float(torch.cat(best).float().mean())


def _data_stats(train_set: Sequence[Sample], held: Sequence[Sample]) -> dict[str, Any]:
    def tokens(ss: Sequence[Sample]) -> int:
        return sum(len(s.tokens) - s.n_prompt for s in ss)

    cats = Counter(s.category for s in train_set)
    return {
        "train_samples": len(train_set),
        "train_response_tokens": tokens(train_set),
        "heldout_samples": len(held),
        "heldout_response_tokens": tokens(held),
        "train_categories": dict(sorted(cats.items())),
    }
