"""The exact calculator: an oracle over random expressions, percentages, and refusals."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from tools import ToolArgumentError, ToolRegistry, calculate, calculator

BIG_A, BIG_B = 12345678901234567890, 98765432109876543210


def _random_expression(rng: random.Random, depth: int) -> tuple[str, Fraction]:
    """Build an expression text together with its exact value (the oracle)."""
    if depth == 0 or rng.random() < 0.3:
        whole, frac = rng.randint(0, 10**6), rng.randint(0, 999)
        text = f"{whole}.{frac:03d}" if rng.random() < 0.5 else str(whole)
        return text, Fraction(text)
    left, lv = _random_expression(rng, depth - 1)
    right, rv = _random_expression(rng, depth - 1)
    op = rng.choice(["+", "-", "*", "/"])
    if op == "/" and rv == 0:
        op = "+"
    value = {"+": lv + rv, "-": lv - rv, "*": lv * rv, "/": lv / rv if rv else lv}[op]
    return f"({left} {op} {right})", value


def test_random_expressions_match_exact_rational_oracle() -> None:
    rng = random.Random(1234)
    for _ in range(300):
        text, expected = _random_expression(rng, depth=4)
        assert calculate(text).value == expected, text
        assert calculate(text).exact


@pytest.mark.parametrize(
    ("expression", "rendered"),
    [
        ("0.1 + 0.2", "0.3"),
        ("0.1 * 3", "0.3"),
        ("1 - 0.9", "0.1"),
        ("2**100", "1267650600228229401496703205376"),
        (
            "12345678901234567890 * 98765432109876543210",
            str(BIG_A * BIG_B),
        ),
        ("1/3", "1/3 ≈ 0.33333333333333333333"),
        ("-2/3 + 1/6", "-0.5"),
        ("1/8", "0.125"),
        ("7 // 2", "3"),
        ("-7 // 2", "-4"),
        ("10 % 3", "1"),
        ("2 ** -3", "0.125"),
        ("3 × 4 ÷ 6 − 1", "1"),
        ("2^10", "1024"),
        ("1e-5 * 3", "0.00003"),
        ("1_000 + 1", "1001"),
    ],
)
def test_exact_rendering(expression: str, rendered: str) -> None:
    assert calculate(expression).render() == rendered


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("12%", Fraction(12, 100)),
        ("15% of 240", Fraction(36)),
        ("(1 + 2)% of 300", Fraction(9)),
        ("12.5% * 8", Fraction(1)),
        ("100 + 10%", Fraction(10010, 100)),
        ("50% of 50% of 8", Fraction(2)),
        ("12% - 3", Fraction(-288, 100)),
        ("sqrt(16)%", Fraction(4, 100)),
    ],
)
def test_percentages(expression: str, value: Fraction) -> None:
    assert calculate(expression).value == value


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("sqrt(16/9)", Fraction(4, 3)),
        ("8 ** (1/3)", Fraction(2)),
        ("(27/8) ** (2/3)", Fraction(9, 4)),
        ("abs(-2.5)", Fraction(5, 2)),
        ("min(3, 1.5, 2)", Fraction(3, 2)),
        ("max(3, 1.5, 2)", Fraction(3)),
        ("round(2.5)", Fraction(3)),
        ("round(-2.5)", Fraction(-3)),
        ("round(2.345, 2)", Fraction(235, 100)),
        ("round(1234, -2)", Fraction(1200)),
        ("-(-(3))", Fraction(3)),
    ],
)
def test_functions_and_exact_roots(expression: str, value: Fraction) -> None:
    result = calculate(expression)
    assert result.exact and result.value == value


def test_irrational_results_are_marked_approximate() -> None:
    root = calculate("sqrt(2)")
    assert not root.exact
    assert root.render().startswith("≈ 1.41421356237309504")
    assert abs(root.value**2 - 2) < Fraction(1, 10**35)
    assert calculate("2 ** 0.5").value == root.value


@pytest.mark.parametrize(
    ("expression", "needle"),
    [
        ("1/0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("__import__('os')", "unsupported function"),
        ("(1).real", "unsupported syntax: Attribute"),
        ("[1, 2][0]", "unsupported syntax"),
        ("x + 1", "unknown name 'x'"),
        ("'a' * 3", "only numbers"),
        ("True + 1", "only numbers"),
        ("lambda: 1", "unsupported syntax"),
        ("2 ** 100000", "too large"),
        ("9 ** 9 ** 9", "too large"),
        ("10 ** 3000 * 10 ** 3000", "too large"),
        ("-" * 60 + "1", "nested"),
        ("(" * 210 + "1" + ")" * 210, "not a valid"),
        ("1 +", "not a valid"),
        ("sqrt(-1)", "not real"),
        ("(-8) ** (1/3)", "not real"),
        ("round(1, 0.5)", "whole number"),
        ("max()", "at least one"),
        ("sqrt(x=4)", "keyword"),
        ("", "empty"),
        ("1" * 600, "longer than"),
        ("of 3", "'of' must follow"),
    ],
)
def test_rejections_are_typed(expression: str, needle: str) -> None:
    with pytest.raises(ToolArgumentError, match=needle):
        calculate(expression)


@pytest.mark.anyio
async def test_calculator_tool_results() -> None:
    registry = ToolRegistry([calculator])
    ok = await registry.execute("1", "calculator", '{"expression": "0.1 + 0.2"}')
    assert (ok.ok, ok.content) == (True, "0.3")
    bad = await registry.execute("2", "calculator", '{"expression": "1/0"}')
    assert (bad.ok, bad.error) == (False, "validation")
    assert "division by zero" in bad.content
    evil = await registry.execute(
        "3", "calculator", "{\"expression\": \"__import__('os').system('true')\"}"
    )
    assert evil.error == "validation"


def test_calculator_never_uses_eval() -> None:
    import inspect

    import tools._calc_eval
    import tools._calculator

    for module in (tools._calculator, tools._calc_eval):
        source = inspect.getsource(module)
        assert "eval(" not in source.replace(".eval(", "").replace("def eval(", "")
        assert "exec(" not in source
