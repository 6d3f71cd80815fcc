"""Helpers shared by the CLI commands: logging setup, threads, JSON output."""

from __future__ import annotations

import argparse
import json
import logging
import os
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
        logger_factory=structlog.PrintLoggerFactory(file=__import__("sys").stderr),
    )


def default_threads() -> int:
    """Physical cores: hyper-threads share the FMA units and the memory bus."""
    try:
        cores = {
            (block.get("physical id"), block.get("core id"))
            for block in _cpuinfo_blocks()
            if "core id" in block
        }
        if cores:
            return len(cores)
    except OSError:
        pass
    return max(1, (os.cpu_count() or 2))


def _cpuinfo_blocks() -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    for chunk in Path("/proc/cpuinfo").read_text().split("\n\n"):
        entry = {}
        for line in chunk.splitlines():
            key, _, value = line.partition(":")
            entry[key.strip()] = value.strip()
        if entry:
            blocks.append(entry)
    return blocks


def add_threads_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--threads N`` (compute threads; default: physical cores)."""
    parser.add_argument(
        "--threads", type=int, default=None, help="compute threads (default: physical cores)"
    )


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, creating parent folders."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
