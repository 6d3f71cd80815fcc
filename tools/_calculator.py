"""An exact calculator over Python's ``ast``: rational arithmetic, never ``eval``.

Numbers are :class:`fractions.Fraction`, so ``0.1 + 0.2`` is exactly ``0.3``.
Only irrational results (``sqrt(2)``, ``2 ** 0.5``) fall back to 40-digit
:class:`decimal.Decimal` arithmetic and are marked approximate.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

from tools._calc_eval import CalculationError, Evaluator, check_literal

__all__ = ["Calculation", "CalculationError", "calculate"]

_MAX_CHARS = 500
_MAX_DEPTH = 40  # AST depth; a human expression is rarely deeper than ~10
_SHOWN_DIGITS = 20
# Longest exact text shown; also keeps str(int) under Python's 4,300-digit conversion limit.
_MAX_EXACT_DIGITS = 1000
_LOG10_2 = 0.30103
_SYMBOLS = {"−": "-", "×": "*", "÷": "/", "^": "**", "·": "*"}
_OPERATORS = {"+", "-", "*", "/", "//", "%", "**"}
_CLOSE = {")", ","}


@dataclass(frozen=True)
class Calculation:
    """A calculator result.

    Attributes:
        value: The exact value (or, when not ``exact``, a 40-digit approximation).
        exact: Whether ``value`` is exactly the mathematical result.
    """

    value: Fraction
    exact: bool

    def render(self) -> str:
        """Render as an exact decimal where finite, else fraction and rounded decimal.

        An exact text longer than ``_MAX_EXACT_DIGITS`` digits is replaced by the
        value rounded to 20 significant digits, marked ``≈`` like an irrational one.
        """
        if not self.exact:
            return "≈ " + _decimal_text(self.value, _SHOWN_DIGITS)
        places = _decimal_places(self.value.denominator)
        # Digits of the numerator, bounded from its bit length (no text conversion yet).
        whole = int(abs(self.value.numerator).bit_length() * _LOG10_2) + 1
        if places is not None and whole + places <= _MAX_EXACT_DIGITS:
            return _finite_decimal(self.value, places)
        den = int(self.value.denominator.bit_length() * _LOG10_2) + 1
        if places is not None or whole + den > _MAX_EXACT_DIGITS:
            return "≈ " + _decimal_text(self.value, _SHOWN_DIGITS)
        return f"{self.value} ≈ {_decimal_text(self.value, _SHOWN_DIGITS)}"


def _decimal_places(denominator: int) -> int | None:
    """Places after the point of a fraction with this denominator, or None if it never ends."""
    twos = (denominator & -denominator).bit_length() - 1
    rest, fives = denominator >> twos, 0
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    return max(twos, fives) if rest == 1 else None


def _finite_decimal(value: Fraction, places: int) -> str:
    scaled = abs(value.numerator) * 10**places // value.denominator
    digits = str(scaled).rjust(places + 1, "0")
    text = digits if places == 0 else f"{digits[:-places]}.{digits[-places:]}"
    return ("-" if value < 0 else "") + text


def _decimal_text(value: Fraction, digits: int) -> str:
    with localcontext() as ctx:
        ctx.prec = digits
        number = Decimal(value.numerator) / Decimal(value.denominator)
    # Plain notation only within 10^-digits..10^digits: 1e-3000 must not print 3,000 zeros.
    plain = number == 0 or Decimal(10) ** -digits <= abs(number) < Decimal(10) ** digits
    return format(number.normalize(), "f") if plain else str(number)


def _rewrite_percent(source: str) -> str:
    """Turn postfix percent signs into ``(x/100)`` and "of" into multiplication.

    Every number literal is size-checked here, from its text, first of all.

    A ``%`` is a percent sign when what follows cannot start an operand (end,
    ``)``, ``,``, an operator, or "of"); otherwise it is modulo. So ``10 % 3`` is
    1 while ``12% - 3`` is -2.88; write ``a % (-b)`` for modulo by a negative.
    """
    try:
        tokens = [
            t
            for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)
        ]
    except (tokenize.TokenError, SyntaxError) as exc:
        raise CalculationError(f"cannot read the expression: {exc}") from exc
    for tok in tokens:
        if tok.type == tokenize.NUMBER:
            check_literal(tok.string)  # before ast.parse or Fraction build any number
    out: list[str] = []
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1].string if i + 1 < len(tokens) else ""
        if tok.string == "%" and (nxt in _CLOSE or nxt in _OPERATORS or nxt in ("", "of")):
            start = _operand_start(out)
            out[start:] = ["(", *out[start:], "/", "100", ")"]
        elif tok.string == "of":
            if not out or out[-1] != ")":
                raise CalculationError("'of' must follow a percentage, as in '15% of 240'")
            out.append("*")
        else:
            out.append(tok.string)
    return " ".join(out)


def _operand_start(out: list[str]) -> int:
    if not out:
        raise CalculationError("'%' needs a number before it")
    if out[-1] != ")":
        return len(out) - 1
    depth = 0
    for index in range(len(out) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(out[index], 0)
        if depth == 0:
            is_call = index > 0 and out[index - 1].isidentifier()
            return index - 1 if is_call else index
    raise CalculationError("unbalanced parentheses")


def _depth(node: ast.AST) -> int:
    children = list(ast.iter_child_nodes(node))
    return 1 + max((_depth(c) for c in children), default=0)


def calculate(expression: str) -> Calculation:
    """Evaluate an arithmetic expression exactly.

    Supports numbers, ``+ - * / // % **`` (also ``× ÷ − ^``), unary minus,
    parentheses, percentages (``12%`` is 0.12, ``15% of 240`` is 36) and the
    functions ``sqrt``, ``abs``, ``round`` (half away from zero), ``min``, ``max``.

    Args:
        expression: The expression text.

    Returns:
        The exact result, or a marked approximation for irrational results.

    Raises:
        CalculationError: Unsupported syntax, division by zero, or a result too
            large or too deeply nested to compute safely.

    Example:
        >>> calculate("0.1 + 0.2").render()
        '0.3'
    """
    if len(expression) > _MAX_CHARS:
        raise CalculationError(f"expression longer than {_MAX_CHARS} characters")
    source = expression.strip()
    for symbol, replacement in _SYMBOLS.items():
        source = source.replace(symbol, replacement)
    if not source:
        raise CalculationError("empty expression")
    rewritten = _rewrite_percent(source)
    try:
        tree = ast.parse(rewritten, mode="eval")
        too_deep = _depth(tree) > _MAX_DEPTH
    except (SyntaxError, RecursionError, MemoryError, ValueError) as exc:
        raise CalculationError(f"not a valid arithmetic expression: {expression!r}") from exc
    if too_deep:
        raise CalculationError(f"expression nested more than {_MAX_DEPTH} levels deep")
    evaluator = Evaluator(rewritten)
    value = evaluator.eval(tree.body)
    return Calculation(value=value, exact=evaluator.exact)
