"""Ready-made tools: an exact ``calculator`` and a timezone-aware ``clock``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator

from tools._calculator import calculate
from tools._tool import Tool

__all__ = ["calculator", "clock", "make_clock", "offers_arithmetic"]


def _known_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    # OSError: a folder ("Europe") or an over-long name reaches the file system.
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(
            f"unknown IANA timezone {name!r}; use a name like 'Europe/Paris' or 'UTC'"
        ) from exc
    return name


Timezone = Annotated[str, AfterValidator(_known_timezone)]


def _calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly (no rounding errors: 0.1+0.2 is 0.3).

    Supports + - * / // % ** (or × ÷ ^), parentheses, unary minus, percentages
    ("12%" is 0.12, "15% of 240" is 36) and sqrt, abs, round, min, max. Results are
    exact decimals, or a fraction with a rounded decimal, or "≈" for irrational values.

    Args:
        expression: The arithmetic expression, e.g. "(3 + 4) * 2.5" or "15% of 240".
    """
    return calculate(expression).render()


_NUMBER = re.compile(
    r"\d+(?:[.,]\d+)?|\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
    r"twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|"
    r"fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|half|third|fourth|"
    r"fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|twentieth|hundredth)\b",
    re.IGNORECASE,
)
_ARITHMETIC = re.compile(
    r"\d\s*[-+*/×÷^%]|[-+*/×÷^]\s*\(?\d|\b(?:plus|minus|times|divided|multipl\w*|sqrt|"
    r"square root|squared|cubed|power|to the|percent|per cent|sum|average|total|difference|"
    r"add|subtract|calculate|compute)\b",
    re.IGNORECASE,
)


def offers_arithmetic(message: str) -> bool:
    """Whether ``message`` may need arithmetic: two numbers (digits or words), or one and
    an operator or arithmetic word (the calculator's ``offer_when``).

    Example:
        >>> offers_arithmetic("How do I kill a python process?")
        False
        >>> offers_arithmetic("What is 12 * 7?"), offers_arithmetic("charged 480 not 400")
        (True, True)
        >>> offers_arithmetic("what is two to the tenth")
        True
    """
    numbers = _NUMBER.findall(message)
    return len(numbers) >= 2 or (len(numbers) == 1 and _ARITHMETIC.search(message) is not None)


calculator = Tool.from_function(_calculator, name="calculator", timeout_s=2.0)
"""Exact arithmetic tool; invalid expressions come back as ``validation`` results.
Offered to the model only for messages that may need arithmetic (`offers_arithmetic`)."""
calculator.offer_when = offers_arithmetic


def make_clock(now: Callable[[], dt.datetime] | None = None) -> Tool:
    """Build a ``clock`` tool, optionally reading time from ``now`` (for tests and replays).

    Args:
        now: Returns an aware UTC-comparable datetime; defaults to the system clock.

    Returns:
        A tool named ``clock`` taking an IANA ``timezone`` (default ``UTC``).
    """
    read = now or (lambda: dt.datetime.now(dt.UTC))

    def clock(timezone: Timezone = "UTC") -> str:
        """Return the current date and time in an IANA timezone, in ISO 8601 format.

        Args:
            timezone: IANA timezone name such as "Europe/Paris", "America/New_York" or "UTC".
        """
        return read().astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")

    return Tool.from_function(clock, timeout_s=2.0)


clock = make_clock()
"""The current time in a given IANA timezone; unknown zones are ``validation`` results."""
