"""``agentkit router train|train-harm|route|crossval``: train, show a decision, (old) crossval."""

from __future__ import annotations

import argparse
from typing import Any

from agentkit.cli._router_harm import add_train_harm

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``router`` command."""
    parser = subparsers.add_parser("router", help="train or inspect the router")
    sub = parser.add_subparsers(dest="router_command", required=True, metavar="ACTION")
    train = sub.add_parser("train", help="train the layer-2 model on labelled JSONL")
    train.add_argument(
        "--data",
        nargs="+",
        required=True,
        help="JSONL files or folders (rows with 'text', 'label', 'source'); the whole corpus "
        "(dev.jsonl + train/, 30 k rows) takes ~6.5 min on 2 cores",
    )
    train.add_argument("--out", default=None, help="model file (default: the bundled one)")
    train.add_argument(
        "--val-fraction", type=float, default=0.2, help="share held out to calibrate thresholds"
    )
    train.add_argument("--no-synth", action="store_true", help="skip the template rows")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--refit",
        action="store_true",
        help="refit on all rows after calibrating (no held-out rows remain)",
    )
    train.add_argument(
        "--card-doc",
        default=None,
        help="also write the model card into this Markdown file's generated section "
        "(docs/routing.md holds the shipped model's); the card is always written next to "
        "the model as <model>.card.md",
    )
    train.set_defaults(func=_train)
    add_train_harm(sub)
    route = sub.add_parser("route", help="print the decision for one message")
    route.add_argument("message")
    route.add_argument("--model", default=None, help="router model file (default: bundled)")
    route.set_defaults(func=_route)
    crossval = sub.add_parser(
        "crossval",
        help="deprecated: use agentkit eval routing --loso (every source, several files, "
        "the pooled report); kept one release",
    )
    crossval.add_argument("--data", required=True, help="JSONL rows with 'text' and 'label'")
    crossval.add_argument(
        "--sources", default="gsm8k,folio,humaneval,banking77,xstest", help="comma-separated"
    )
    crossval.add_argument("--json", dest="json_out", default=None, help="write the report here")
    crossval.set_defaults(func=_crossval)


def _train(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from router._card import render, write_section
    from router._layered import bundled_model_path
    from router._synth import synth_examples
    from router._train import load_rows, train

    if not 0.0 < args.val_fraction < 1.0:
        print("--val-fraction must be in (0, 1)")
        return 2
    try:
        rows = load_rows(args.data)
    except (OSError, ValueError) as exc:
        print(f"cannot read {' '.join(args.data)}: {exc}")
        return 2
    start = time.perf_counter()
    extra = () if args.no_synth else synth_examples(seed=args.seed)
    model, report = train(
        rows, val_fraction=args.val_fraction, seed=args.seed, extra=extra, refit=args.refit
    )
    out = Path(args.out or bundled_model_path())
    out = out if out.suffix == ".npz" else out.with_name(out.name + ".npz")  # numpy adds it
    model.save(out)
    report |= _provenance(args, out, time.perf_counter() - start)
    card = render(report)
    out.with_suffix(".card.md").write_text(card, encoding="utf-8")
    if args.card_doc:
        try:
            write_section(args.card_doc, card)
        except (OSError, ValueError) as exc:
            print(f"model written to {out}, but not its card to {args.card_doc}: {exc}")
            return 2
    print(json.dumps({"out": str(out), **report}, indent=2))
    return 0


def _provenance(args: argparse.Namespace, out: Any, seconds: float) -> dict[str, Any]:
    """What the card says about the run beyond the training report."""
    import shlex

    from router._card import provenance
    from router._layered import bundled_model_path
    from router._train import jsonl_files

    argv = ["--seed", str(args.seed)]
    argv += [] if args.val_fraction == 0.2 else ["--val-fraction", str(args.val_fraction)]
    argv += [flag for flag, on in (("--no-synth", args.no_synth), ("--refit", args.refit)) if on]
    shipped = out.resolve() == bundled_model_path().resolve()
    command = "agentkit router train " + shlex.join(["--data", *args.data, *argv])
    return provenance(command, jsonl_files(args.data), out, seconds) | {"shipped": shipped}


def _route(args: argparse.Namespace) -> int:
    import json

    from router import LayeredRouter, RouteContext, RouterPolicy

    decision = LayeredRouter(RouterPolicy(model_path=args.model)).route(
        RouteContext(message=args.message)
    )
    print(
        json.dumps(
            {
                "tier": decision.tier,
                "scores": dict(decision.scores),
                "reasons": list(decision.reasons),
            },
            indent=2,
        )
    )
    return 0


def _crossval(args: argparse.Namespace) -> int:
    """Deprecated: `agentkit eval routing --loso` replaces it (issue 15); kept one release."""
    import json
    import sys

    from agentkit.cli._common import write_json
    from agentkit.safety._crossval import leave_one_source_out
    from router._train import load_jsonl

    print(
        "agentkit router crossval is deprecated: `agentkit eval routing --loso --data "
        f"{args.data} --sources {args.sources}` reports the same folds, pooled, with the "
        "calibration error, web and look-alike rates",
        file=sys.stderr,
    )
    try:
        rows = load_jsonl(args.data)
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.data}: {exc}")
        return 2
    report = leave_one_source_out(rows, args.sources.split(","))
    if args.json_out:
        write_json(args.json_out, report)
    print(json.dumps(report, indent=2))
    return 0
