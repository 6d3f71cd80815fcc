"""The ``agentkit`` command line: ``demo | chat | serve | bench | eval | router | distill``.

Each subcommand lives in its own module ``agentkit.cli._<name>`` exposing
``register(subparsers)``; heavy imports (torch, the engine) happen inside the
command, never at parse time, so ``agentkit --help`` stays instant.

Scripts built on agentkit may reuse what the commands use: `configure_logging`
(structlog JSON lines on stderr), `warm_up` (`Runner.start`: warm every part of
an agent before the first turn), `format_footer` and `turn_record` (a `TurnResult` as one line,
or as a JSON-ready record).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from agentkit.cli._chat import format_footer, turn_record, warm_up
from agentkit.cli._common import configure_logging

__all__ = ["configure_logging", "format_footer", "main", "turn_record", "warm_up"]

# Order of appearance in --help.
_COMMANDS = ("demo", "chat", "serve", "bench", "eval", "router", "distill")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered."""
    from agentkit._version import __version__

    parser = argparse.ArgumentParser(prog="agentkit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"agentkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"agentkit.cli._{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"agentkit.cli._{name}":
                raise
            continue  # that command has not been built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    from agentkit.cli._common import configure_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "log_level", "warning"))
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
