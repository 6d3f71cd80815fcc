"""Phases 2 and 3 of `distill`: train the draft on the shards, report held-out acceptance.

One streaming pass over the shards counts the target's choices on training
samples (the kept vocabulary) and collects the held-out greedy samples (the
report); training then streams the shards again (`ShardStream`), so memory
holds a few shards whatever the data size.
"""

from __future__ import annotations

import datetime
import json
import pathlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import torch

from engine._errors import EngineConfigError, ModelLoadError
from engine.distill._data import Sample, iter_shards, shard_files
from engine.distill._mirror import MirrorLlama
from engine.distill._train import ShardStream, acceptance, train
from engine.loader import load_model
from engine.speculative._draft_io import (
    DraftSpec,
    default_draft_path,
    read_draft,
    tokenizer_fingerprint,
    write_draft,
)

__all__ = ["choose_vocab", "train_and_report"]


def choose_vocab(counts: Counter[int], k: int, vocab: int, always: set[int]) -> torch.Tensor:
    """The ``k`` tokens the target chose most often (``counts`` of its argmax), plus ``always``.

    Ties and the remainder are filled with the lowest unused ids: in byte-level
    BPE vocabularies low ids are bytes and early (frequent) merges.

    Returns:
        (k,) int64 kept token ids, most frequent first.
    """
    kept = list(dict.fromkeys([*sorted(always), *(t for t, _ in counts.most_common())]))[:k]
    seen = set(kept)
    filler = (t for t in range(vocab) if t not in seen)
    kept += [next(filler) for _ in range(k - len(kept))]
    return torch.tensor(kept, dtype=torch.long)


def _scan(
    files: Sequence[pathlib.Path],
) -> tuple[Counter[int], list[Sample], list[int], dict[str, Any]]:
    """One pass: argmax counts and stats of training samples, held-out greedy samples, counts."""
    counts: Counter[int] = Counter()
    held: list[Sample] = []
    per_file: list[int] = []
    cats: Counter[str] = Counter()
    stats: dict[str, Any] = {"train_samples": 0, "train_response_tokens": 0, "train_sampled": 0}
    for path in files:
        n = 0
        for s in iter_shards([path]):
            if s.heldout:
                if not s.sampled:
                    held.append(s)
                continue
            n += 1
            counts.update(s.top_ids[:, 0].tolist())
            cats[s.category] += 1
            stats["train_response_tokens"] += len(s.tokens) - s.n_prompt
            stats["train_sampled"] += int(s.sampled)
        per_file.append(n)
        stats["train_samples"] += n
    stats["heldout_samples"] = len(held)
    stats["heldout_response_tokens"] = sum(len(s.tokens) - s.n_prompt for s in held)
    stats["train_categories"] = dict(sorted(cats.items()))
    return counts, held, per_file, stats


_BLOCK = ("attn_norm", "wqkv", "wo", "ffn_norm", "w_gate_up", "w_down")


def mirror_of_draft(
    folder: pathlib.Path, lm: Any, max_len: int
) -> tuple[MirrorLlama, torch.Tensor]:
    """A written draft (``draft.json`` + ``draft.safetensors``) as a mirror, and its kept ids."""
    spec, t = read_draft(folder)
    kept = t["kept_ids"]
    blocks = [{n: t[f"blk.{i}.{n}"] for n in _BLOCK} for i in range(spec.n_layers)]
    m = lm.model
    embed = m.embed.dequantize()  # (V, D)
    head = embed if m.head is m.embed else m.head.dequantize()
    return MirrorLlama(lm.config, blocks, t["output_norm"], embed, head[kept], max_len), kept


def _shipped_on(held: Sequence[Sample], lm: Any, max_len: int) -> dict[str, Any]:
    """The shipped draft's acceptance on this run's held-out answers ({} if it does not fit)."""
    folder = default_draft_path()
    try:
        spec, _ = read_draft(folder)
    except ModelLoadError:  # no shipped draft here: nothing to compare
        return {}
    c = lm.config
    if (spec.dim, spec.target_vocab_size, spec.target_tokenizer) != (
        c.dim,
        c.vocab_size,
        tokenizer_fingerprint(lm.tokenizer),
    ):
        return {}
    draft, kept = mirror_of_draft(folder, lm, max_len + 1)
    to_kept = torch.full((c.vocab_size,), -1, dtype=torch.long)
    to_kept[kept] = torch.arange(kept.numel())
    return acceptance(draft, held, kept, to_kept, max_len)


def _stop_ids(lm: Any) -> set[int]:
    stop = set(lm.config.eos_token_ids)
    im_end = lm.tokenizer.token_to_id("<|im_end|>")
    if im_end is not None:
        stop.add(int(im_end))
    return stop


def _coverage(held: Sequence[Sample], to_kept: torch.Tensor) -> float:
    """Share of held-out target argmax tokens inside the kept vocabulary (α's ceiling)."""
    best = [to_kept[s.top_ids[:, 0].long()] >= 0 for s in held]
    return float(torch.cat(best).float().mean()) if best else 0.0


def train_and_report(cfg: Any, progress: Any = None) -> dict[str, Any]:
    """Train the draft on ``cfg.out``'s shards, export it and write ``report.json``.

    Args:
        cfg: the `engine.distill.DistillConfig`.
        progress: a `engine.distill.DistillProgress` (or None).

    Raises:
        EngineConfigError: no shards, or fewer training samples than a batch.
    """
    out = pathlib.Path(cfg.out)
    files = shard_files(out)
    if not files:
        raise EngineConfigError(f"{out} holds no shards: run the generate phase first")
    if cfg.threads:  # under a busy neighbour, 1 thread: a descheduled OpenMP worker stalls the rest
        torch.set_num_threads(cfg.threads)
    counts, held, per_file, stats = _scan(files)
    lm = load_model(cfg.target, max_seq_len=cfg.max_len + 8)
    v = lm.config.vocab_size
    kept = choose_vocab(counts, min(cfg.kept_vocab, v), v, _stop_ids(lm))
    to_kept = torch.full((v,), -1, dtype=torch.long)
    to_kept[kept] = torch.arange(kept.numel())
    layer_ids = [i % lm.config.n_layers for i in cfg.init_layers]
    draft = MirrorLlama.from_transformer(lm.model, layer_ids, kept, max_len=cfg.max_len + 1)
    before = acceptance(draft, held, kept, to_kept, cfg.max_len) if held else {}
    if progress is not None:
        progress.phase("train", cfg.steps)
    stream = ShardStream(files, per_file, cfg.batch_seqs, cfg.seed)

    def on_step(step: int, loss: float) -> None:
        if progress is not None:
            progress.advance(1, f"loss {loss:.3f}")

    state = train(
        draft, stream, to_kept, steps=cfg.steps, lr=cfg.lr, max_len=cfg.max_len,
        ckpt=out / "checkpoint.pt", resume=cfg.resume, on_step=on_step, bf16=cfg.bf16,
    )  # fmt: skip
    after = acceptance(draft, held, kept, to_kept, cfg.max_len) if held else {}
    c = lm.config
    spec = DraftSpec(
        n_layers=len(layer_ids), dim=c.dim, n_heads=c.n_heads, n_kv_heads=c.n_kv_heads,
        head_dim=c.head_dim, hidden_dim=c.hidden_dim, norm_eps=c.norm_eps,
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
        "data": stats,
        "kept_vocab": int(kept.numel()),
        "heldout_coverage": _coverage(held, to_kept),
        "heldout_before": before,
        "shipped_draft_on_this_heldout": _shipped_on(held, lm, cfg.max_len) if held else {},
        "heldout": after,
        "loss_first": state.losses[:10],
        "loss_last": state.losses[-10:],
        "steps": state.step,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
