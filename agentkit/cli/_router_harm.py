"""``agentkit router train-harm``: train the harm second opinion (`router._harm`)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_train_harm"]


def add_train_harm(sub: Any) -> None:
    """Add the ``train-harm`` action to the ``router`` command's subparsers."""
    cmd = sub.add_parser(
        "train-harm",
        help="train the harm second opinion (n-gram gate + MiniLM head) on labelled JSONL",
    )
    cmd.add_argument(
        "--data", nargs="+", required=True,
        help="JSONL files or folders; the shipped model: dev.jsonl + train/ (~5 min warm, "
        "plus ~4 min to embed the corpus once, cached under ~/.cache/agentkit/embeddings)",
    )  # fmt: skip
    cmd.add_argument("--out", default=None, help="model file (default: the bundled one)")
    cmd.add_argument("--seed", type=int, default=0, help="seed of the source folds")
    cmd.add_argument("--folds", type=int, default=5, help="source folds for the thresholds")
    cmd.add_argument("--no-synth", action="store_true", help="skip the template rows")
    cmd.add_argument(
        "--card-doc", default=None,
        help="also write the model card into this Markdown file's generated section "
        "(docs/routing.md holds the shipped model's); it is always written next to the "
        "model as <model>.card.md",
    )  # fmt: skip
    cmd.set_defaults(func=_train_harm)


def _train_harm(args: argparse.Namespace) -> int:
    """Train, save, write the card; 2 with a message on bad arguments or data."""
    import time
    from pathlib import Path

    from router._embed import EmbeddingLayer, EmbeddingUnavailable
    from router._harm import bundled_harm_path
    from router._harm_train import corpus, train_harm
    from router._synth import synth_examples

    rows = _rows(args)
    if isinstance(rows, str):
        print(rows)
        return 2
    try:
        layer = EmbeddingLayer.load()
    except EmbeddingUnavailable as exc:
        print(f"cannot train the harm model: {exc}")
        return 2
    start = time.perf_counter()
    extra = () if args.no_synth else synth_examples(seed=args.seed)
    model = train_harm(
        *corpus(rows, extra), layer.embed_corpus, seed=args.seed, folds=args.folds,
        progress=_stderr,
    )  # fmt: skip
    out = Path(args.out or bundled_harm_path())
    out = out if out.suffix == ".npz" else out.with_name(out.name + ".npz")  # numpy adds it
    model.save(out)
    report = model.report() | _provenance(args, out, time.perf_counter() - start)
    return _write_card(args, out, report) or _done(out, report)


def _rows(args: argparse.Namespace) -> list[dict[str, object]] | str:
    """The training rows, or why they cannot train a model with ``args.folds`` folds."""
    from router._train import load_rows

    if args.folds < 2:
        return "--folds must be at least 2"
    try:
        rows = load_rows(args.data)
    except (OSError, ValueError) as exc:
        return f"cannot read {' '.join(args.data)}: {exc}"
    if missing := sum(1 for r in rows if not r.get("source") or "label" not in r):
        return f"{missing} row(s) lack a 'source' or a 'label': every row needs both"
    if (n := len({str(r["source"]) for r in rows})) < args.folds:
        return f"{n} source(s) cannot fill {args.folds} source folds: lower --folds"
    return rows


def _stderr(line: str) -> None:
    """Progress on stderr: stdout carries the JSON report alone."""
    import sys

    print(line, file=sys.stderr, flush=True)


def _done(out: Any, report: dict[str, Any]) -> int:
    import json

    print(json.dumps({"out": str(out), **report}, indent=2))
    return 0


def _write_card(args: argparse.Namespace, out: Any, report: dict[str, Any]) -> int:
    """Write the card beside the model and, with ``--card-doc``, into that file (0 = done)."""
    from router._card import write_section
    from router._harm_card import HARM_BEGIN, HARM_END, render_harm

    card = render_harm(report)
    out.with_suffix(".card.md").write_text(card, encoding="utf-8")
    if args.card_doc:
        try:
            write_section(args.card_doc, card, HARM_BEGIN, HARM_END)
        except (OSError, ValueError) as exc:
            print(f"model written to {out}, but not its card to {args.card_doc}: {exc}")
            return 2
    return 0


def _provenance(args: argparse.Namespace, out: Any, seconds: float) -> dict[str, Any]:
    """What the card says about the run beyond the training report."""
    import shlex

    from router._card import provenance
    from router._train import jsonl_files

    argv = ["--seed", str(args.seed)]
    argv += [] if args.folds == 5 else ["--folds", str(args.folds)]
    argv += ["--no-synth"] if args.no_synth else []
    command = "agentkit router train-harm " + shlex.join(["--data", *args.data, *argv])
    return provenance(command, jsonl_files(args.data), out, seconds)
