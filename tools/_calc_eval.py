"""The AST walker behind :func:`tools._calculator.calculate`.

Whitelist only: every node type not handled here is rejected, so names,
attributes, subscripts, lambdas and calls to anything but the five
arithmetic functions can never run.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation, localcontext
from fractions import Fraction

from tools._errors import ToolArgumentError

__all__ = ["CalculationError", "Evaluator", "check_literal"]

_MAX_BITS = 10_000  # ~3,000 digits: far beyond any real question, far below a DoS
_MAX_DIGITS = math.ceil(_MAX_BITS * math.log10(2))  # 3,011: decimal digits of _MAX_BITS
_MAX_EXPONENT_CHARS = 6  # an exponent of a million digits is rejected without int()
_DECIMAL_LITERAL = re.compile(r"(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?:e(?P<exp>[+-]?[0-9]+))?j?")
_MAX_ROOT = 64  # largest exponent denominator tried for an exact rational root
_DECIMAL_DIGITS = 40


class CalculationError(ToolArgumentError):
    """The expression cannot be evaluated; the message says why, for the model."""


def _check_size(value: Fraction) -> Fraction:
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > _MAX_BITS:
        raise CalculationError(f"result too large (more than {_MAX_BITS} bits)")
    return value


def check_literal(text: str) -> None:
    """Reject a number literal too large or too precise to build, judged from its text alone.

    ``Fraction("1e999999999")`` computes ``10**999999999`` while holding the GIL, so no
    timeout can stop it: the size must be known before any conversion.

    Raises:
        CalculationError: The literal needs more than ``_MAX_DIGITS`` digits.
    """
    plain = text.replace("_", "").lower()
    match = _DECIMAL_LITERAL.fullmatch(plain)
    if match is None:  # hex, octal or binary: an int of at most 4 bits a character
        if 4 * len(plain) > _MAX_BITS:
            raise CalculationError(f"number {text[:20]!r}... is too large")
        return
    exp = (match["exp"] or "0").lstrip("+-").lstrip("0")
    if len(exp) > _MAX_EXPONENT_CHARS:
        raise CalculationError(f"exponent of {text[:40]!r} is too large")
    frac = match["frac"] or ""
    shift = int(match["exp"] or 0) - len(frac)  # value = significand * 10**shift
    significand = len((match["int"] + frac).lstrip("0"))
    digits = significand + shift if shift >= 0 else max(significand, -shift)
    if digits > _MAX_DIGITS:
        raise CalculationError(
            f"number {text[:40]!r} is too large or too precise (over {_MAX_DIGITS} digits)"
        )


def _exact_root(value: int, degree: int) -> int | None:
    """Return the integer ``degree``-th root of ``value`` if it is exact, else ``None``."""
    if value < 2:
        return value
    # Newton's method on integers, started above the root so it decreases monotonically.
    x = 1 << -(-value.bit_length() // degree)
    while True:
        y = ((degree - 1) * x + value // x ** (degree - 1)) // degree
        if y >= x:
            break
        x = y
    return x if x**degree == value else None


def _to_fraction(number: Decimal) -> Fraction:
    return Fraction(number)


class Evaluator:
    """Evaluates a parsed expression as exact fractions.

    Attributes:
        exact: Cleared once any step had to approximate (irrational roots).
    """

    def __init__(self, source: str) -> None:
        """Prepare to evaluate nodes parsed from ``source`` (needed for float literals)."""
        self.source = source
        self.exact = True
        self._functions: dict[str, Callable[[list[Fraction]], Fraction]] = {
            "sqrt": self._sqrt,
            "abs": lambda args: abs(self._one("abs", args)),
            "round": self._round,
            "min": lambda args: min(self._some("min", args)),
            "max": lambda args: max(self._some("max", args)),
        }

    def eval(self, node: ast.expr) -> Fraction:
        """Evaluate one expression node.

        Raises:
            CalculationError: For anything outside plain arithmetic.
        """
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.eval(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            return _check_size(self._binary(node.op, self.eval(node.left), self.eval(node.right)))
        if isinstance(node, ast.Call):
            return _check_size(self._call(node))
        if isinstance(node, ast.Name):
            raise CalculationError(f"unknown name {node.id!r}; only numbers and functions")
        raise CalculationError(f"unsupported syntax: {type(node).__name__}")

    def _constant(self, node: ast.Constant) -> Fraction:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CalculationError(f"only numbers are allowed, not {value!r}")
        if isinstance(value, int):
            return _check_size(Fraction(value))
        # Re-read the literal text: the parsed float already lost exactness.
        text = (ast.get_source_segment(self.source, node) or repr(value)).replace("_", "")
        check_literal(text)
        try:
            return _check_size(Fraction(text))
        except (ValueError, ZeroDivisionError) as exc:
            raise CalculationError(f"bad number {text!r}") from exc

    def _binary(self, op: ast.operator, left: Fraction, right: Fraction) -> Fraction:
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Pow):
            return self._power(left, right)
        if not isinstance(op, ast.Div | ast.FloorDiv | ast.Mod):
            raise CalculationError(f"unsupported operator: {type(op).__name__}")
        if right == 0:
            raise CalculationError("division by zero")
        if isinstance(op, ast.Div):
            return left / right
        return Fraction(left // right) if isinstance(op, ast.FloorDiv) else left % right

    def _power(self, base: Fraction, exponent: Fraction) -> Fraction:
        if base == 0 and exponent < 0:
            raise CalculationError("division by zero (0 to a negative power)")
        if base in (0, 1):
            return base
        num, den = exponent.numerator, exponent.denominator
        bits = max(base.numerator.bit_length(), base.denominator.bit_length())
        if abs(num) * bits > _MAX_BITS * den:
            raise CalculationError(f"exponent too large (result over {_MAX_BITS} bits)")
        if den == 1:
            return base**num
        if base < 0:
            raise CalculationError("a negative number to a fractional power is not real")
        if den <= _MAX_ROOT:
            top = _exact_root(base.numerator, den)
            bottom = _exact_root(base.denominator, den)
            if top is not None and bottom is not None:
                return Fraction(top, bottom) ** num
        return self._approx(
            lambda: (Decimal(base.numerator) / Decimal(base.denominator)) ** (Decimal(num) / den)
        )

    def _approx(self, compute: Callable[[], Decimal]) -> Fraction:
        self.exact = False
        try:
            with localcontext() as ctx:
                ctx.prec = _DECIMAL_DIGITS
                return _to_fraction(compute())
        except (InvalidOperation, OverflowError) as exc:
            raise CalculationError(f"cannot compute: {exc}") from exc

    def _call(self, node: ast.Call) -> Fraction:
        if not isinstance(node.func, ast.Name) or node.func.id not in self._functions:
            names = ", ".join(sorted(self._functions))
            raise CalculationError(f"unsupported function call; available: {names}")
        if node.keywords:
            raise CalculationError("keyword arguments are not supported")
        args = [self.eval(arg) for arg in node.args]
        return self._functions[node.func.id](args)

    @staticmethod
    def _one(name: str, args: list[Fraction]) -> Fraction:
        if len(args) != 1:
            raise CalculationError(f"{name}() takes exactly one argument")
        return args[0]

    @staticmethod
    def _some(name: str, args: list[Fraction]) -> list[Fraction]:
        if not args:
            raise CalculationError(f"{name}() needs at least one argument")
        return args

    def _sqrt(self, args: list[Fraction]) -> Fraction:
        value = self._one("sqrt", args)
        if value < 0:
            raise CalculationError("sqrt of a negative number is not real")
        top, bottom = math.isqrt(value.numerator), math.isqrt(value.denominator)
        if top * top == value.numerator and bottom * bottom == value.denominator:
            return Fraction(top, bottom)
        return self._approx(lambda: (Decimal(value.numerator) / Decimal(value.denominator)).sqrt())

    @staticmethod
    def _round(args: list[Fraction]) -> Fraction:
        if len(args) not in (1, 2):
            raise CalculationError("round() takes a number and optional digits")
        digits = args[1] if len(args) == 2 else Fraction(0)
        if digits.denominator != 1 or abs(digits) > 100:
            raise CalculationError("round() digits must be a whole number in [-100, 100]")
        scale = Fraction(10) ** int(digits)
        # Half away from zero, as people round by hand (Python's round is banker's).
        magnitude = math.floor(abs(args[0]) * scale + Fraction(1, 2))
        return Fraction(magnitude if args[0] >= 0 else -magnitude) / scale
