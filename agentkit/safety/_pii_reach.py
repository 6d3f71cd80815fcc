"""How far a PII pattern's match depends on text, read from the pattern itself.

The stream guard releases text only where no later text can change a PII span
(`agentkit.safety._pii.pii_settled`). That needs, per pattern, its longest match,
how far past a match it reads (lookaheads, or the character that ends a greedy
repeat), and which characters a match can consume. ``re``'s own parser reads
the patterns; it is private, so it stays behind this one seam, typed ``Any``,
and a test pins what it derives.
"""

from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Reach", "fixed_width", "outside", "reach"]

_parser: Any = importlib.import_module("re._parser")
_consts: Any = importlib.import_module("re._constants")
_CATEGORY = {"CATEGORY_DIGIT": r"\d", "CATEGORY_WORD": r"\w", "CATEGORY_SPACE": r"\s"}


@dataclass(frozen=True)
class Reach:
    """How far one pattern's match can depend on text.

    Attributes:
        width: The longest match.
        ahead: Characters read past a match's end (its lookaheads, the one character
            that ends a greedy repeat, or a context window after it).
        alphabet: The classes a match consumes, as class syntax (None: any character).
    """

    width: int
    ahead: int
    alphabet: str | None

    @property
    def outside(self) -> re.Pattern[str] | None:
        """Matches one character no match can consume (None: any can be)."""
        return outside(self.alphabet)


def _class_items(items: list[tuple[Any, Any]]) -> list[str] | None:
    """The items of a character class as class syntax; None if it is negated or unknown."""
    out: list[str] = []
    for op, arg in items:
        if op is _consts.LITERAL:
            out.append(re.escape(chr(arg)))
        elif op is _consts.RANGE:
            out.append(f"{re.escape(chr(arg[0]))}-{re.escape(chr(arg[1]))}")
        elif op is _consts.CATEGORY and str(arg) in _CATEGORY:
            out.append(_CATEGORY[str(arg)])
        else:
            return None
    return out


def _alphabet(tree: Any) -> tuple[list[str] | None, int]:
    """The classes a parsed pattern consumes (None: any character), and its lookahead."""
    classes: list[str] | None = []
    ahead = 1
    for op, arg in tree:
        found: list[str] | None
        if op in (_consts.ASSERT, _consts.ASSERT_NOT):
            if arg[0] == 1:  # a lookahead reads past the match; a lookbehind reads known text
                ahead = max(ahead, 1 + arg[1].getwidth()[1])
            continue
        if op is _consts.AT:
            continue  # \b reads the next character: covered by ahead >= 1
        if op is _consts.LITERAL:
            found = [re.escape(chr(arg))]
        elif op is _consts.IN:
            found = _class_items(arg)
        elif op in (_consts.MAX_REPEAT, _consts.MIN_REPEAT, _consts.SUBPATTERN, _consts.BRANCH):
            subs = arg[1] if op is _consts.BRANCH else [arg[-1]]
            found = []
            for sub in subs:
                sub_classes, sub_ahead = _alphabet(sub)
                ahead = max(ahead, sub_ahead)
                found = None if sub_classes is None or found is None else found + sub_classes
        else:
            found = None
        classes = None if found is None or classes is None else classes + found
    return classes, ahead


def reach(pattern: re.Pattern[str], after: int = 0) -> Reach:
    """The `Reach` of ``pattern``; ``after``: characters a validator reads past a match."""
    tree = _parser.parse(pattern.pattern, pattern.flags)
    classes, ahead = _alphabet(tree)
    if pattern.flags & re.IGNORECASE:
        classes = None  # case folding widens every class: assume any character
    alphabet = "".join(classes) if classes else None
    return Reach(int(tree.getwidth()[1]), max(ahead, 1 + after), alphabet)


@functools.cache
def outside(alphabet: str | None) -> re.Pattern[str] | None:
    """A class of one character outside ``alphabet`` (None for no alphabet)."""
    return re.compile(f"[^{alphabet}]") if alphabet else None


@functools.cache
def fixed_width(pattern: str) -> int:
    """The width of every match of ``pattern``.

    Raises:
        ValueError: Its matches differ in width.
    """
    low, high = _parser.parse(pattern).getwidth()
    if low != high:
        raise ValueError(f"{pattern!r} is not of fixed width")
    return int(low)
