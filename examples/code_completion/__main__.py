"""``python -m examples.code_completion replay [--session FILE] [--speed X] [--deadline-ms MS]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import anyio

from examples.code_completion._replay import SESSION, load_session, replay, report
from examples.code_completion._server import completion_app, start_server


def main(argv: Sequence[str] | None = None) -> int:
    """Start the completion server in-process on loopback, replay a session, print the report."""
    parser = argparse.ArgumentParser(prog="python -m examples.code_completion")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("replay", help="replay a recorded editing session")
    p.add_argument("--session", default=str(SESSION), help="keystroke events (JSONL)")
    p.add_argument("--speed", type=float, default=1.0, help="replay this many times faster")
    p.add_argument("--deadline-ms", type=float, default=150.0, help="budget per completion")
    p.add_argument("--max-tokens", type=int, default=16, help="tokens per completion")
    p.add_argument("--threads", type=int, default=None, help="compute threads")
    p.add_argument(
        "--n", type=int, default=1, help="candidates per keystroke, ranked by mean logprob"
    )
    args = parser.parse_args(argv)

    from engine import Engine

    events = load_session(args.session)
    # More slots than one editor needs: a cancelled request keeps its slot until the
    # forward pass it is in finishes (prefill is one uninterruptible call).
    engine = Engine.load("default", threads=args.threads, max_slots=8)
    server = start_server(completion_app(engine))
    try:
        print(f"server on {server.url}; replaying {len(events)} keystrokes from {args.session}")
        results = anyio.run(
            lambda: replay(
                server.url,
                events,
                speed=args.speed,
                deadline_ms=args.deadline_ms,
                max_tokens=args.max_tokens,
                n=args.n,
            )
        )
    finally:
        server.stop()
    for r in results:
        print(
            f"  #{r.index:<2} {r.status:<9} {r.latency_ms:7.1f} ms  {r.text!r}",
            r.finish_reason or "",
        )
        for c in r.candidates:  # n > 1: every candidate, best first
            print(f"        mean logprob {c.mean_logprob:6.2f}  {c.text!r}")
    print(report(events, results).render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
