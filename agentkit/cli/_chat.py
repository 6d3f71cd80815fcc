"""``agentkit chat``: an interactive REPL over an agent, one line of stdin per turn.

Answers stream as they are released; after each turn a footer says which tier
answered, why, how the turn ended and where the time went. ``--example NAME``
loads ``examples.NAME.build_agent`` (run from the repository root); without it
the agent is a plain one on the embedded model.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, TextIO

from agentkit.cli._common import add_threads_arg

__all__ = ["chat_loop", "format_footer", "register", "turn_record", "warm_up"]

EXAMPLES = ("customer_service",)
"""Examples with an agent builder (``examples.<name>.build_agent``)."""


def register(subparsers: Any) -> None:
    """Add the ``chat`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "chat",
        help="chat with an agent on stdin/stdout",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument("--example", choices=EXAMPLES, default=None, help="load an example's agent")
    add_threads_arg(p)
    p.add_argument("--budget-ms", type=float, default=None, help="turn budget (default: agent's)")
    p.add_argument("--session", default="chat", help="session id (history is kept per session)")
    p.add_argument("--log-level", default="warning", help="debug | info | warning | error")
    p.set_defaults(func=_run)


def format_footer(result: Any) -> str:
    """One line about a `TurnResult`: tier and reason, outcome, time per stage, speculation.

    Example:
        >>> from agentkit import Hop, TurnResult
        >>> r = TurnResult(text="hi", outcome="ok", tier="fast", budget_ms=1500,
        ...                elapsed_ms=12.5, hops=[Hop(tier="fast", reason="routine")])
        >>> format_footer(r)
        '[fast: routine | ok | 12 ms of 1500 | safety 0 route 0 model 0 tools 0 | spec off]'
    """
    hops = " -> ".join(f"{h.tier}: {h.reason}" for h in result.hops) or "no model"
    t = result.timings_ms
    stages = (
        f"safety {t.safety_in + t.safety_out:.0f} route {t.route:.0f} "
        f"model {t.model:.0f} tools {t.tools:.0f}"
    )
    spec = result.speculative
    spec_text = (
        "off"
        if spec is None or spec.mode == "off"
        else (f"{spec.mode} {spec.accepted}/{spec.drafted} accepted")
    )
    return (
        f"[{hops} | {result.outcome} | {result.elapsed_ms:.0f} ms of {result.budget_ms:.0f} "
        f"| {stages} | spec {spec_text}]"
    )


def turn_record(result: Any) -> dict[str, Any]:
    """A JSON-ready record of one `TurnResult` (the fields scripted runs write)."""
    return {
        "outcome": result.outcome,
        "tier": result.tier,
        "hops": [h.model_dump() for h in result.hops],
        "reasons": list(result.reasons),
        "elapsed_ms": round(result.elapsed_ms, 2),
        "budget_ms": result.budget_ms,
        "timings_ms": result.timings_ms.model_dump(),
        "speculative": None if result.speculative is None else result.speculative.model_dump(),
        "text": result.text,
    }


def _build(args: argparse.Namespace) -> Any:
    if args.example is not None:
        module = importlib.import_module(f"examples.{args.example}")
        return module.build_agent(threads=args.threads)
    from agentkit._agent import Agent
    from agentkit._engine_model import EngineModel

    options: dict[str, Any] = {} if args.threads is None else {"threads": args.threads}
    return Agent(instructions="You are a helpful, brief assistant.", fast=EngineModel(**options))


async def warm_up(agent: Any) -> Any:
    """Warm every part of ``agent`` before the first turn (`Runner.start`); its `Warmup`.

    No turn then pays for loading: the engine is loaded and primed with the
    agent's prompt, the router's and safety filter's models are loaded, the
    knowledge base is warm.
    """
    from agentkit._runner import Runner

    return await Runner.start(agent)


async def _decide(requests: Any, read_line: Any, out: TextIO) -> list[Any]:
    """Ask the operator about each tool call that waits for approval (y: approve)."""
    import anyio.to_thread

    from agentkit.approvals import Approval

    decisions = []
    for request in requests:
        out.write(f"approve {request.tool} {request.arguments}? [y/N] ")
        out.flush()
        answer = (await anyio.to_thread.run_sync(read_line)).strip().lower()
        if answer in ("y", "yes"):
            decisions.append(Approval.approve(request.call_id))
        else:
            decisions.append(Approval.reject(request.call_id, "the operator said no"))
    return decisions


async def chat_loop(
    agent: Any,
    read_line: Any,
    out: TextIO,
    *,
    session_id: str = "chat",
    budget_ms: float | None = None,
) -> int:
    """Run turns for each line ``read_line()`` returns until it returns "" (EOF).

    Args:
        agent: The agent.
        read_line: Blocking function returning the next line ("" at EOF); it runs
            in a worker thread so the event loop keeps serving the engine.
        out: Where answers and footers go.
        session_id: The session whose history the turns share.
        budget_ms: The turn budget (None: the agent's).

    Returns:
        The number of turns run.
    """
    import anyio.to_thread

    from agentkit._runner import Runner
    from agentkit._turn_events import ResultEvent, TextEvent

    turns = 0
    while True:
        out.write("> ")
        out.flush()
        line = await anyio.to_thread.run_sync(read_line)
        if not line:
            out.write("\n")
            return turns
        if not line.strip():
            continue
        turns += 1
        result = None
        async for event in Runner.stream(
            agent, line.rstrip("\n"), session_id=session_id, budget_ms=budget_ms
        ):
            if isinstance(event, TextEvent):
                out.write(event.text)
                out.flush()
            elif isinstance(event, ResultEvent):
                result = event.result
                out.write("\n" + format_footer(result) + "\n")
                out.flush()
        while result is not None and result.outcome == "awaiting_approval":
            decisions = await _decide(result.approvals, read_line, out)
            session = result.session_id or session_id
            result = await Runner.resume(agent, session, decisions, budget_ms=budget_ms)
            out.write(result.text + "\n" + format_footer(result) + "\n")
            out.flush()


def _run(args: argparse.Namespace) -> int:
    import anyio

    try:
        agent = _build(args)
    except ModuleNotFoundError as exc:
        print(f"error: {exc}; run from the repository root", file=sys.stderr)
        return 2
    interactive = sys.stdin.isatty()
    if interactive:
        print("agentkit chat: one message per line; Ctrl-D to quit.", flush=True)

    async def main() -> int:
        await warm_up(agent)
        return await chat_loop(
            agent,
            sys.stdin.readline,
            sys.stdout,
            session_id=args.session,
            budget_ms=args.budget_ms,
        )

    try:
        anyio.run(main)
    except KeyboardInterrupt:
        print()
    return 0
