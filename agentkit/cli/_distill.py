"""``agentkit distill``: train a small draft model for speculative decoding of a target."""

from __future__ import annotations

import argparse
from typing import Any

from agentkit.cli._common import add_threads_arg, default_threads

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``distill`` command."""
    p = subparsers.add_parser(
        "distill", help="distil a draft model for speculative decoding from a target"
    )
    p.add_argument("--target", default="default", help="'default' or a .gguf / HF folder path")
    p.add_argument("--prompts", default=None, help="JSONL prompt set (default: the bundled one)")
    p.add_argument("--out", required=True, help="output folder (draft, report, checkpoints)")
    p.add_argument("--steps", type=int, default=400, help="optimizer steps")
    p.add_argument("--resume", action="store_true", help="reuse shards, continue from checkpoint")
    p.add_argument("--init-layers", default="0,1", help="target blocks to start from, e.g. 0,1")
    p.add_argument("--kept-vocab", type=int, default=8192, help="rows of the draft's cut head")
    p.add_argument("--max-new", type=int, default=128, help="response length when generating")
    p.add_argument("--gen-batch", type=int, default=32, help="sequences generated together")
    p.add_argument("--sampled-fraction", type=float, default=0.0,
                   help="share of training prompts also answered by sampling")  # fmt: skip
    p.add_argument("--max-len", type=int, default=256, help="training context (tokens)")
    p.add_argument("--batch-seqs", type=int, default=8, help="sequences per training step")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--limit", type=int, default=None, help="use only the first N prompts")
    p.add_argument("--seed", type=int, default=0)
    add_threads_arg(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json
    import pathlib

    import torch
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from engine.distill import DistillConfig, distill

    torch.set_num_threads(args.threads or default_threads())
    try:
        cfg = DistillConfig(
            out=pathlib.Path(args.out), target=args.target,
            prompts=pathlib.Path(args.prompts) if args.prompts else None,
            steps=args.steps, resume=args.resume,
            init_layers=tuple(int(x) for x in args.init_layers.split(",")),
            kept_vocab=args.kept_vocab, max_new=args.max_new, gen_batch=args.gen_batch,
            sampled_fraction=args.sampled_fraction, batch_seqs=args.batch_seqs,
            max_len=args.max_len, lr=args.lr, seed=args.seed, limit=args.limit,
        )  # fmt: skip
    except ValueError as exc:
        print(f"agentkit distill: {exc}")
        return 2
    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
    )  # fmt: skip
    with Progress(*columns, console=console) as bar:
        report = distill(cfg, _RichProgress(bar))
    print(json.dumps({"out": str(cfg.out), "heldout": report["heldout"]}, indent=2))
    return 0


class _RichProgress:
    """`DistillProgress` drawn as one rich bar per phase."""

    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self._task: Any = None

    def phase(self, name: str, total: int) -> None:
        self._task = self._bar.add_task(name, total=total, info="")

    def advance(self, n: int, info: str = "") -> None:
        if self._task is not None:
            self._bar.update(self._task, advance=n, info=info)
