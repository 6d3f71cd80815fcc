"""Training the draft against the target's distributions, checkpoints, and acceptance.

Loss: cross-entropy of the draft's softmax over the kept vocabulary against
the target's top-k distribution renormalised on the kept vocabulary (the KL
up to a constant), at response positions only — the draft never drafts the
prompt, but attends to it.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from engine._errors import EngineConfigError
from engine.distill._data import Sample, iter_shards
from engine.distill._mirror import MirrorLlama

__all__ = ["Batch", "ShardStream", "TrainState", "acceptance", "make_batch", "train"]


@dataclass(frozen=True)
class Batch:
    """Padded sequences with sparse soft targets at response positions.

    Attributes:
        tokens: (B, T) int64, zero-padded after each sequence.
        rows, cols: (N,) positions (sequence, index) whose next token is scored.
        ids: (N, k) kept-vocabulary indices of the target's top tokens (0 where dropped).
        probs: (N, k) their target probabilities renormalised on the kept
            vocabulary (0 where a top token is outside it).
        best: (N,) kept index of the target's argmax, -1 when outside.
    """

    tokens: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor
    ids: torch.Tensor
    probs: torch.Tensor
    best: torch.Tensor


def make_batch(samples: Sequence[Sample], to_kept: torch.Tensor, max_len: int) -> Batch:
    """Pad ``samples`` into a batch; prompts longer than ``max_len`` lose their start.

    Args:
        samples: the sequences.
        to_kept: (V,) full id -> kept index, -1 for tokens outside the kept vocabulary.
        max_len: longest sequence the draft is trained on.
    """
    seqs, rows, cols, ids, probs = [], [], [], [], []
    for b, s in enumerate(samples):
        cut = max(0, len(s.tokens) - max_len)
        seqs.append(torch.tensor(s.tokens[cut:]))
        r = s.top_ids.shape[0]
        first = s.n_prompt - 1 - cut  # the position whose logits predict response[0]
        keep = torch.arange(r) + first >= 0
        rows.append(torch.full((int(keep.sum()),), b))
        cols.append((torch.arange(r) + first)[keep])
        kid = to_kept[s.top_ids[keep].long()]  # (R, k)
        p = s.top_logp[keep].float().exp() * (kid >= 0)
        ids.append(kid.clamp_min(0))
        probs.append(p)
    tokens = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True)  # (B, T)
    ids_t, probs_t = torch.cat(ids), torch.cat(probs)
    best = torch.where(probs_t[:, 0] > 0, ids_t[:, 0], -1)
    probs_t = probs_t / probs_t.sum(-1, keepdim=True).clamp_min(1e-12)
    return Batch(tokens, torch.cat(rows), torch.cat(cols), ids_t, probs_t, best)


def _loss(model: MirrorLlama, batch: Batch, bf16: bool = False) -> torch.Tensor:
    # bf16 autocast: products in bf16 (AVX-512 BF16: ~1.8x less CPU a step, measured),
    # master weights, optimizer and the softmax in fp32
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        h = model.hidden(batch.tokens)[batch.rows, batch.cols]  # (N, D)
        logits = h @ model.head.t()  # (N, K)
    logp = torch.log_softmax(logits.float(), dim=-1)  # (N, K)
    ce = -(batch.probs * logp.gather(1, batch.ids)).sum(-1)  # (N,)
    has_mass = batch.probs.sum(-1) > 0
    return ce[has_mass].mean()


@dataclass
class TrainState:
    """What a checkpoint holds: step, optimizer, RNG, loss history."""

    step: int
    losses: list[float]


def _lr(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 10% of peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


class ShardStream:
    """Training batches streamed from shards, a group of shards in memory at a time.

    Epoch ``e`` visits the shards in an order drawn from ``(seed, e)``, ``group``
    shards at a time; each group's training samples are shuffled by
    ``(seed, e, group index)`` and cut into batches of ``batch_seqs``. The batch
    of any step is therefore fixed by the seed alone, and `batches` can start at
    any step (a resumed run sees exactly the batches the uninterrupted one saw)
    while memory holds only ``group`` shards.

    Args:
        files: the shards.
        counts: training samples in each shard (held-out ones are skipped).
        batch_seqs: sequences per batch.
        seed: data-order seed.
        group: shards loaded together (the shuffle's reach).
    """

    def __init__(
        self,
        files: Sequence[pathlib.Path],
        counts: Sequence[int],
        batch_seqs: int,
        seed: int,
        group: int = 8,
    ) -> None:
        self.files, self.counts = list(files), list(counts)
        self.batch_seqs, self.seed, self.group = batch_seqs, seed, group
        if sum(self.counts) < batch_seqs:
            raise EngineConfigError(f"{sum(self.counts)} training samples: fewer than a batch")

    def _groups(self, epoch: int) -> list[list[int]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.files), generator=g).tolist()
        return [order[i : i + self.group] for i in range(0, len(order), self.group)]

    def batches(self, start: int = 0) -> Iterator[list[Sample]]:
        """Batches from step ``start`` on, endlessly (epoch after epoch)."""
        step, epoch = 0, 0
        while True:
            for gi, members in enumerate(self._groups(epoch)):
                n = sum(self.counts[i] for i in members) // self.batch_seqs
                if step + n <= start:  # skipped without loading
                    step += n
                    continue
                pool = [s for i in members for s in _load_shard(self.files[i]) if not s.heldout]
                g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 7919 + gi)
                pick = torch.randperm(len(pool), generator=g).tolist()
                for b in range(n):
                    if step >= start:
                        yield [
                            pool[i] for i in pick[b * self.batch_seqs : (b + 1) * self.batch_seqs]
                        ]
                    step += 1
            epoch += 1


def _load_shard(path: pathlib.Path) -> list[Sample]:
    return list(iter_shards([path]))


def train(
    model: MirrorLlama,
    stream: ShardStream,
    to_kept: torch.Tensor,
    *,
    steps: int,
    lr: float,
    max_len: int,
    ckpt: pathlib.Path,
    resume: bool,
    ckpt_every: int = 50,
    on_step: Callable[[int, float], None] | None = None,
    bf16: bool = False,
) -> TrainState:
    """AdamW over the draft's blocks and norm with a cosine schedule; resumable.

    Batches come from ``stream`` by step (`ShardStream.batches`), so a resumed
    run sees exactly the batches the uninterrupted run would have seen.

    Args:
        model: the draft mirror (trained in place).
        stream: the training batches.
        to_kept: (V,) full id -> kept index (-1 outside).
        steps: total optimizer steps (a resumed run continues up to it).
        lr: peak learning rate.
        max_len: sequence length cap.
        ckpt: checkpoint file (written every ``ckpt_every`` steps and at the end).
        resume: continue from ``ckpt`` when it exists.
        on_step: progress callback (step, loss).
        bf16: compute the forward and backward products in bf16 (autocast).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    state = TrainState(0, [])
    if resume and ckpt.exists():
        state = _load_checkpoint(ckpt, model, opt)
    warmup = max(1, min(30, steps // 10))
    model.train()
    batches = stream.batches(state.step)
    while state.step < steps:
        batch = make_batch(next(batches), to_kept, max_len)
        for group in opt.param_groups:
            group["lr"] = _lr(state.step, steps, lr, warmup)
        loss = _loss(model, batch, bf16)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        state.step += 1
        state.losses.append(loss.item())
        if on_step is not None:
            on_step(state.step, state.losses[-1])
        if state.step % ckpt_every == 0 or state.step == steps:
            _save_checkpoint(ckpt, model, opt, state)
    model.eval()
    return state


def _save_checkpoint(
    path: pathlib.Path, model: MirrorLlama, opt: torch.optim.Optimizer, state: TrainState
) -> None:
    body: dict[str, Any] = {
        "model": model.state_dict(),
        "opt": opt.state_dict(),
        "step": state.step,
        "losses": state.losses,
        "rng": torch.get_rng_state(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(body, tmp)
    tmp.replace(path)  # atomic: an interrupted save leaves the previous checkpoint


def _load_checkpoint(
    path: pathlib.Path, model: MirrorLlama, opt: torch.optim.Optimizer
) -> TrainState:
    body = torch.load(path, weights_only=True)
    model.load_state_dict(body["model"])
    opt.load_state_dict(body["opt"])
    torch.set_rng_state(body["rng"])
    return TrainState(int(body["step"]), list(body["losses"]))


@torch.inference_mode()
def acceptance(
    model: MirrorLlama,
    samples: Sequence[Sample],
    kept_ids: torch.Tensor,
    to_kept: torch.Tensor,
    max_len: int,
    gamma: int = 4,
) -> dict[str, dict[str, float]]:
    """Teacher-forced greedy acceptance per category (and ``"all"``).

    α is the fraction of response positions where the draft's argmax equals
    the target's. The mean accepted length replays greedy speculation with
    draft length ``gamma``: from each step's start, the run of agreeing
    positions (≤ γ) is accepted plus one target token. Teacher forcing is
    exact here: while drafts agree they *are* the target's tokens.
    """
    per: dict[str, list[torch.Tensor]] = {}
    for s in samples:
        batch = make_batch([s], to_kept, max_len)
        h = model.hidden(batch.tokens)[batch.rows, batch.cols]  # (R, D)
        draft = kept_ids[(h @ model.head.t()).argmax(-1)]  # (R,) full ids
        agree = draft == s.top_ids[-h.shape[0] :, 0].long()
        per.setdefault(s.category, []).append(agree)
        per.setdefault("all", []).append(agree)
    return {cat: _replay(runs, gamma) for cat, runs in sorted(per.items())}


def _replay(runs: list[torch.Tensor], gamma: int) -> dict[str, float]:
    tokens = steps = agreed = total = 0
    for agree in runs:
        a = agree.tolist()
        agreed += sum(a)
        total += len(a)
        i = 0
        while i < len(a):
            n = 0
            while n < gamma and i + n < len(a) and a[i + n]:
                n += 1
            steps += 1
            tokens += n + 1
            i += n + 1
    return {
        "alpha": agreed / max(1, total),
        "mean_accepted_length": tokens / max(1, steps),
        "positions": float(total),
    }
