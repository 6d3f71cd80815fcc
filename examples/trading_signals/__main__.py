"""``python -m examples.trading_signals``: signals for the recorded headlines, with a histogram."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from agentkit.cli import configure_logging
from examples.trading_signals._signals import (
    HEADLINES,
    RecordedSource,
    SignalAgent,
    SignalResult,
    text_histogram,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Process the headline stream; print one line per signal and a latency histogram."""
    parser = argparse.ArgumentParser(prog="python -m examples.trading_signals")
    parser.add_argument("--headlines", default=str(HEADLINES), help="recorded headlines (JSONL)")
    parser.add_argument("--deadline-ms", type=float, default=2000.0, help="hard limit per headline")
    parser.add_argument("--max-tokens", type=int, default=48, help="tokens per model call")
    parser.add_argument("--threads", type=int, default=None, help="compute threads")
    parser.add_argument(
        "--generate",
        action="store_true",
        help="the fast tier generates with the embedded model (default: the direction classifier)",
    )
    args = parser.parse_args(argv)
    configure_logging("info")  # structlog JSON, one "signal" event per headline (stderr)

    from agentkit import EngineModel, Model
    from examples.customer_service._agent import default_deep
    from examples.trading_signals._direction import DirectionClassifier, SignalFastModel

    fast: Model = SignalFastModel(DirectionClassifier.from_file())
    if args.generate:  # SmolLM2-135M answered "long" for every dev headline: docs/answers.md
        options = {} if args.threads is None else {"threads": args.threads}
        fast = EngineModel(name="smollm2-135m", **options)
    agent = SignalAgent(
        fast, default_deep(), deadline_ms=args.deadline_ms, max_tokens=args.max_tokens
    )

    async def run() -> list[SignalResult]:
        await agent.start()  # loading and priming are not part of any headline's deadline
        return await agent.run(RecordedSource(Path(args.headlines)))

    results = anyio.run(run)
    for r in results:
        s = r.signal
        shown = f"{s.direction:<5} {s.confidence:.2f} {s.rationale}" if s else "-"
        print(
            f"{r.headline.id} {r.headline.instrument:<5} {r.status:<8} {r.tier or '-':<4} "
            f"{r.latency_ms:7.1f} ms  {shown}"
        )
    print("\nlatency per headline:")
    print(text_histogram([r.latency_ms for r in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
