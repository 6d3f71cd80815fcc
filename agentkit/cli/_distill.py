"""``agentkit distill``: train a small draft model for speculative decoding of a target.

Generation runs the target through the engine's batched scheduler and can run
for hours in the background (``nohup nice -n 19 agentkit distill ... &``): it
writes shards and a manifest as it goes, and the same command continues where
a killed run stopped. Off a terminal, progress is logged as one line a minute.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from agentkit.cli._common import add_threads_arg

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``distill`` command."""
    p = subparsers.add_parser(
        "distill", help="distil a draft model for speculative decoding from a target"
    )
    p.add_argument("--target", default="default", help="'default' or a .gguf / HF folder path")
    p.add_argument("--out", required=True, help="output folder (shards, manifest, draft, report)")
    p.add_argument("--phase", choices=("generate", "train", "all"), default="all")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--corpus", default=None, help="routing corpus folder to build prompts from")
    src.add_argument("--prompts", default=None, help="JSONL prompt set (default: the bundled one)")
    p.add_argument("--tokens", type=int, default=1_000_000, help="response tokens to generate")
    p.add_argument("--time-limit", type=float, default=None, help="generation seconds at most")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    p.add_argument("--max-new", type=int, default=128, help="response length cap (tokens)")
    p.add_argument("--max-prompt-tokens", type=int, default=768, help="longer prompts skipped")
    p.add_argument("--sampled-fraction", type=float, default=0.3,
                   help="share of training prompts also answered by sampling (T=0.7)")  # fmt: skip
    p.add_argument("--steps", type=int, default=400, help="optimizer steps")
    p.add_argument("--resume", action="store_true", help="continue training from the checkpoint")
    p.add_argument("--init-layers", default="0,1", help="target blocks to start from, e.g. 0,1")
    p.add_argument("--kept-vocab", type=int, default=8192, help="rows of the draft's cut head")
    p.add_argument("--max-len", type=int, default=256, help="training context (tokens)")
    p.add_argument("--batch-seqs", type=int, default=8, help="sequences per training step")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--bf16", action="store_true", help="train with bf16 autocast (AVX-512 BF16)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N prompts")
    p.add_argument("--seed", type=int, default=0)
    add_threads_arg(p)
    p.set_defaults(func=_run)


def _config(args: argparse.Namespace) -> Any:
    import pathlib

    from engine.distill import DistillConfig
    from engine.distill._generate import GenConfig

    gen = GenConfig(
        max_new=args.max_new, sampled_fraction=args.sampled_fraction, seed=args.seed,
        max_prompt_tokens=args.max_prompt_tokens,
    )  # fmt: skip
    return DistillConfig(
        out=pathlib.Path(args.out), target=args.target,
        prompts=pathlib.Path(args.prompts) if args.prompts else None,
        corpus=pathlib.Path(args.corpus) if args.corpus else None, phase=args.phase,
        gen=gen, tokens=args.tokens, time_limit_s=args.time_limit,
        concurrency=args.concurrency, threads=args.threads, steps=args.steps,
        resume=args.resume, init_layers=tuple(int(x) for x in args.init_layers.split(",")),
        kept_vocab=args.kept_vocab, batch_seqs=args.batch_seqs, max_len=args.max_len,
        lr=args.lr, bf16=args.bf16, seed=args.seed, limit=args.limit,
    )  # fmt: skip


def grounded_prompt() -> Callable[[str], list[dict[str, str]]]:
    """The customer-service example's grounded prompt (as its fast tier builds it).

    Instructions, then the best policy passage as a system message (at most 600
    characters, ``Policy (source, heading): text``), then the question: what
    `examples.customer_service.GroundedFastModel` sends the engine when it generates.
    """
    from examples.customer_service import grounding
    from examples.customer_service._agent import INSTRUCTIONS

    found = grounding()

    def build(question: str) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": INSTRUCTIONS}]
        hits = found.search(question, k=1)
        if hits:
            h = hits[0]
            passage = f"Policy ({h.source}, {h.heading or ''}): {h.text}"
            msgs.append({"role": "system", "content": passage[:600]})
        return [*msgs, {"role": "user", "content": question}]

    return build


def _run(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from engine._errors import EngineError
    from engine.distill import distill

    try:
        cfg = _config(args)
    except (ValueError, EngineError) as exc:
        print(f"agentkit distill: {exc}")
        return 2
    console = Console(stderr=True)
    grounded = grounded_prompt() if cfg.corpus is not None else None
    with _progress(console) as prog:
        try:
            result = distill(cfg, prog, grounded)
        except EngineError as exc:
            print(f"agentkit distill: {exc}")
            return 2
    shown = result.get("heldout") if "heldout" in result else {
        k: result.get(k) for k in ("prompts", "jobs", "written_tokens")
    }  # fmt: skip
    print(json.dumps({"out": str(cfg.out), "result": shown}, indent=2))
    return 0


def _progress(console: Any) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
    )  # fmt: skip
    return _RichProgress(Progress(*columns, console=console), console.is_terminal)


class _RichProgress:
    """Rich bars (generation: tokens; training: steps), plus a log line a minute off a terminal."""

    def __init__(self, bar: Any, live: bool, every_s: float = 60.0) -> None:
        self._bar, self._live, self._every = bar, live, every_s
        self._task: Any = None
        self._t0 = self._last = time.monotonic()
        self._made = self._done = self._samples = 0
        self._total = 0

    def __enter__(self) -> _RichProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)

    def start(self, target_tokens: int, done_tokens: int, jobs_left: int) -> None:
        self._total, self._done = target_tokens, done_tokens
        self._task = self._bar.add_task("generate", total=target_tokens, info="")
        self._bar.update(self._task, completed=min(done_tokens, target_tokens))
        self._log(f"generate: {done_tokens} of {target_tokens} tokens done, {jobs_left} jobs left")

    def update(self, tokens: int, samples: int, info: str) -> None:
        self._made += tokens
        self._samples += samples
        rate = self._made / max(1e-9, time.monotonic() - self._t0)
        self._bar.update(self._task, advance=tokens, info=f"{rate:.0f} tok/s {info}")
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            done = self._done + self._made
            self._log(f"generate: {done} / {self._total} tokens, {self._samples} samples "
                      f"this run, {rate:.0f} tok/s")  # fmt: skip

    def phase(self, name: str, total: int) -> None:
        self._task = self._bar.add_task(name, total=total, info="")
        self._log(f"{name}: {total}")

    def advance(self, n: int, info: str = "") -> None:
        if self._task is not None:
            self._bar.update(self._task, advance=n, info=info)
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._log(f"{info}")

    def _log(self, line: str) -> None:
        if not self._live:  # nohup / a log file: the bar does not redraw there
            stamp = time.strftime("%H:%M:%S")
            print(f"[{stamp}] {line}", file=sys.stderr, flush=True)
