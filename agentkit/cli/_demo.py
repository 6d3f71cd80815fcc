"""``agentkit demo``: a scripted customer-service conversation on the embedded model.

The fast tier is the in-process engine. The deep tier is the endpoint named by
``--deep-base-url``/``AGENTKIT_DEEP_BASE_URL``; when none is configured, a
second engine is started as ``agentkit serve`` on a free loopback port (and
always stopped at exit).

Threads: the fast tier gets every core (``--threads``, default the physical
cores) and the local deep tier half of them. The two never compute at the
same time in a turn: a turn routed deep leaves the fast tier idle, and the
fast fallback starts only after the deep request was abandoned (the server
stops a request within one step of its client leaving). A static 1 + 1 split
of two cores halved the fast tier's speed for the turns that matter most,
measured on this machine: the grounded answers of the script went from
0.48-1.07 s to 0.75-1.49 s (two of three over the 1.5 s budget).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from agentkit.cli._common import add_threads_arg, default_threads

__all__ = ["register", "turn_record"]

DEFAULT_BUDGET_MS = 1500.0


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "demo", help="run the scripted customer-service demo on the embedded model"
    )
    p.add_argument(
        "--script",
        type=Path,
        help='JSONL turns: {"session", "text", "budget_ms"?, "facts"?: [["500"], ["EUR"]]}',
    )
    p.add_argument("--json", type=Path, help="write one JSON record per turn to this file")
    p.add_argument("--budget-ms", type=float, default=DEFAULT_BUDGET_MS, help="turn budget")
    p.add_argument("--deep-base-url", default=None, help="deep tier endpoint (…/v1)")
    p.add_argument("--deep-model", default=None, help="deep tier model name")
    p.add_argument("--deep-api-key", default=None, help="deep tier API key")
    add_threads_arg(p)
    p.add_argument("--log-level", default="error", help="debug | info | warning | error")
    p.set_defaults(func=_run)


def _load_script(path: Path | None) -> list[dict[str, Any]]:
    """The turns to run: the file's, or the customer-service example's script.

    Raises:
        OSError: the file cannot be read.
        ValueError: a line is not an object with a string ``text`` and well-formed
            ``facts`` (see `examples.customer_service._script.parse_facts`).
    """
    from examples.customer_service._script import parse_facts

    if path is None:
        from examples.customer_service import SCRIPT

        return [
            {"session": t.session, "text": t.text, "facts": [list(g) for g in t.facts]}
            | ({} if t.budget_ms is None else {"budget_ms": t.budget_ms})
            for t in SCRIPT
        ]
    turns = []
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise ValueError(f"{path}:{n}: each line needs a string 'text'")
        parse_facts(row.get("facts"), f"{path}:{n}")  # refuse a bad shape before any turn runs
        turns.append(row)
    return turns


def turn_record(result: Any, session: str, text: str) -> dict[str, Any]:
    """The JSON record of one turn (the ``--json`` format)."""
    return {
        "session": session,
        "text": text,
        "answer": result.text,
        "outcome": result.outcome,
        "tier": result.tier,
        "hops": [h.model_dump() for h in result.hops],
        "reasons": list(result.reasons),
        "elapsed_ms": round(result.elapsed_ms, 1),
        "budget_ms": result.budget_ms,
        "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.model_dump().items()},
        "safety": result.safety.action if result.safety else None,
        "tokens": {t: u.usage.completion_tokens for t, u in result.usage.items()},
        "speculative": result.speculative.model_dump() if result.speculative else None,
        "approvals": [r.model_dump() for r in result.approvals],
    }


def _deep_settings(args: argparse.Namespace) -> dict[str, str | None]:
    return {
        "base_url": args.deep_base_url or os.environ.get("AGENTKIT_DEEP_BASE_URL"),
        "model": args.deep_model or os.environ.get("AGENTKIT_DEEP_MODEL"),
        "api_key": args.deep_api_key or os.environ.get("AGENTKIT_DEEP_API_KEY"),
    }


def _run(args: argparse.Namespace) -> int:
    import anyio

    try:
        turns = _load_script(args.script)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        deep = _deep_settings(args)
        threads = args.threads or default_threads()
        if not deep["base_url"]:
            deep = _start_local_deep(stack, threads)
        records = anyio.run(_converse, turns, deep, threads, args.budget_ms)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text("".join(json.dumps(r) + "\n" for r in records))
    _print_summary(records)
    return 0


def _start_local_deep(stack: contextlib.ExitStack, threads: int) -> dict[str, str | None]:
    from rich.console import Console

    from agentkit._local_server import LocalServer

    deep_threads = max(1, threads // 2)
    with Console(stderr=True).status("starting the local deep tier (agentkit serve)…"):
        server = stack.enter_context(LocalServer(threads=deep_threads))
    print(f"deep tier: local agentkit serve at {server.base_url} ({deep_threads} thread)")
    return {"base_url": server.base_url, "model": "smollm2-135m-instruct", "api_key": None,
            "local": "yes"}  # fmt: skip


async def _converse(
    turns: list[dict[str, Any]], deep: dict[str, str | None], threads: int, budget_ms: float
) -> list[dict[str, Any]]:
    from agentkit import Message, SamplingSettings
    from agentkit._engine_model import EngineModel
    from agentkit._openai_model import OpenAIModel
    from agentkit._runner import Runner
    from agentkit.approvals import Approval
    from examples.customer_service import build_agent

    fast = EngineModel(path="default", threads=threads)  # starts loading now
    agent = build_agent(
        fast=fast,
        deep=OpenAIModel(deep["model"], base_url=deep["base_url"], api_key=deep["api_key"]),
    )
    # Warm every part as a deployment does at start-up (the engine loaded and primed with
    # the agent's prompt, router and safety models, the knowledge base): the first user
    # turn then pays only for itself.
    warmup = await Runner.start(agent)
    print(
        f"fast tier: embedded SmolLM2-135M-Instruct ready in {warmup.total_ms / 1000:.1f} s "
        f"({threads} thread{'s' if threads > 1 else ''})"
    )
    deep_model = agent.tier_model("deep")
    if deep.get("local") and deep_model is not None:  # our own stand-in: prime it too
        primer = [Message.system(agent.instructions), Message.user("Hello")]
        await deep_model.complete(primer, settings=SamplingSettings(max_tokens=1))
    records = []
    for turn in turns:
        session = str(turn.get("session", "demo"))
        budget = turn.get("budget_ms", budget_ms)
        result = await Runner.run(agent, turn["text"], session_id=session, budget_ms=budget)
        while True:
            record = turn_record(result, session, turn["text"])
            record["facts"] = _facts_verdict(turn, result)
            records.append(record)
            _print_turn(record)
            if result.outcome != "awaiting_approval":
                break
            # The demo's specialist approves every refund above the instant limit.
            decisions = [Approval.approve(r.call_id) for r in result.approvals]
            session = result.session_id or session
            result = await Runner.resume(agent, session, decisions, budget_ms=budget)
    return records


def _facts_verdict(turn: dict[str, Any], result: Any) -> str | None:
    """Whether the released answer holds the turn's expected facts (None: it names none).

    The local deep tier is the same small model as the fast one, and the loop
    trusts the deep tier's answers (it stands for a large model), so a wrong
    answer can go out there with outcome ``ok``: this verdict shows it.
    """
    from examples.customer_service._script import ScriptTurn, fact_verdict, parse_facts

    facts = parse_facts(turn.get("facts"), "turn")
    return fact_verdict(
        ScriptTurn(str(turn.get("session", "demo")), turn["text"], None, facts), result
    )


def _print_turn(r: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    hops = " → ".join(f"{h['tier']} ({h['reason']})" for h in r["hops"]) or "none"
    spec = r["speculative"]
    spec_text = (
        f"acceptance {spec['acceptance_rate']:.2f}, {spec['mean_accepted_length']:.2f} tok/step"
        if spec and spec["mode"] != "off"
        else "off"
    )
    t = r["timings_ms"]
    console.print(f"\n[bold]user[/bold] [{r['session']}]: {r['text']}")
    console.print(f"[bold]agent[/bold]: {r['answer']}")
    if r.get("facts"):
        style = (
            "green"
            if r["facts"] == "right"
            else "red"
            if r["facts"].startswith("wrong")
            else "yellow"
        )
        console.print(f"  [{style}]expected facts: {r['facts']}[/{style}]")
    for request in r.get("approvals", ()):
        console.print(
            f"  [yellow]waiting for a specialist: {request['tool']} {request['arguments']} "
            "(the demo approves it)[/yellow]"
        )
    console.print(
        f"  [dim]outcome {r['outcome']} · tier {r['tier']} · hops {hops} · safety {r['safety']} · "
        f"tokens {r['tokens']} · speculation {spec_text}[/dim]"
    )
    console.print(
        f"  [dim]{r['elapsed_ms']:.0f} ms of {r['budget_ms']:.0f}: "
        f"safety_in {t['safety_in']:.1f} · route {t['route']:.1f} · "
        f"model {t['model']:.0f} · tools {t['tools']:.0f} · "
        f"safety_out {t['safety_out']:.1f}[/dim]"
    )


def _print_summary(records: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="demo summary")
    for col in ("#", "tier", "outcome", "facts", "elapsed ms", "model ms", "tokens", "acceptance"):
        table.add_column(col, justify="left" if col in ("outcome", "facts") else "right")
    for i, r in enumerate(records, 1):
        spec = r["speculative"]
        table.add_row(
            str(i),
            str(r["tier"]),
            r["outcome"],
            r.get("facts") or "-",
            f"{r['elapsed_ms']:.0f}",
            f"{r['timings_ms']['model']:.0f}",
            str(sum(r["tokens"].values())),
            f"{spec['acceptance_rate']:.2f}" if spec and spec["mode"] != "off" else "-",
        )
    Console().print(table)
