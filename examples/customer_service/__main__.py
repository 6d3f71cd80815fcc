"""``python -m examples.customer_service [--script FILE] [--json FILE] [--threads N]``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import anyio

from agentkit import Runner, TurnResult
from examples.customer_service._agent import build_agent
from examples.customer_service._script import load_script, print_turn, records, run_script


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scripted conversation and print tier, reason, outcome and timings per turn."""
    parser = argparse.ArgumentParser(prog="python -m examples.customer_service")
    parser.add_argument("--script", default=None, help="JSONL turns instead of the built-in")
    parser.add_argument("--json", default=None, help="write one JSON record per turn here")
    parser.add_argument("--threads", type=int, default=None, help="compute threads")
    parser.add_argument("--db", default=None, help="SQLite ledger (default: a temporary file)")
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens per model call")
    args = parser.parse_args(argv)
    agent = build_agent(db_path=args.db, threads=args.threads, max_tokens=args.max_tokens)
    turns = load_script(args.script)
    print(f"deep tier: {agent.deep.name if agent.deep else 'none (set AGENTKIT_DEEP_*)'}")

    async def main() -> list[TurnResult]:
        await Runner.start(agent)  # loading anything is not part of any turn's budget
        return await run_script(agent, turns, on_turn=print_turn)

    results = anyio.run(main)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            for record in records(results):
                f.write(json.dumps(record) + "\n")
    outcomes = [r.outcome for r in results]
    print(
        f"\n{len(results)} turns: "
        + ", ".join(f"{o} {outcomes.count(o)}" for o in sorted(set(outcomes)))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
