"""Helpers shared by the CLI commands: logging setup, threads, JSON output."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import structlog

__all__ = ["add_threads_arg", "configure_logging", "default_threads", "write_json"]


def configure_logging(level: str = "warning") -> None:
    """JSON logs on stderr through structlog, at ``level``."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=_stderr_logger,
    )


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    """A logger writing to whatever ``sys.stderr`` is now, not at configure time.

    Binding the stream once breaks when it is swapped later (pytest's capture
    closes the one it handed out; a daemon may redirect its streams). structlog
    calls the factory on each bind, as loggers are not cached.
    """
    return structlog.PrintLogger(file=sys.stderr)


def default_threads() -> int:
    """Physical cores this process may use: the engine's count (`engine._threads`).

    One definition, so the CLI and `Engine.load` agree under CPU pinning
    (``taskset``, container cpusets). Importing it imports the engine and
    torch: only commands that run a model call it.
    """
    from engine._threads import physical_cores

    return physical_cores()


def add_threads_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--threads N``: a fixed thread count instead of the default (docs/threads.md)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="fixed compute threads (default: the physical cores, one fewer for each "
        "core other processes keep busy where the engine serves requests)",
    )


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, creating parent folders."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
