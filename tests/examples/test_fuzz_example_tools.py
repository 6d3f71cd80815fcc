"""Fuzzing the examples' tools through the registry, and the ledger's invariants under it.

The banking agent's registry (policy search, ``account_lookup``, ``refund``, the
calculator) and the trading example's numeric facts get arbitrary arguments and
near-miss spellings of real ids and amounts. Every call ends in a typed outcome,
and however the calls mix, no payment is ever refunded beyond its amount and each
account's balance moves by exactly what was refunded on it.
"""

from __future__ import annotations

import faulthandler
import json
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.customer_service import KB_DIR, Ledger, create_ledger
from examples.customer_service._bank import ACCOUNTS
from examples.trading_signals._signals import needs_numeric_reasoning, numeric_facts
from tools import KnowledgeBase, ToolRegistry, ToolResult, calculator

FAST = settings(
    derandomize=True,
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
LONG = settings(FAST, max_examples=2000)
TYPED_FAILURES = (None, "invalid_json", "validation")

_LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
JSONISH = st.recursive(
    _LEAF,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3)
    ),
    max_leaves=8,
)
_PAD = st.sampled_from(["", " ", "\t", "\n", "\u200b", "\u00a0", "\u3000", "\x00"])
_DIGITS = st.sampled_from(["1001", "1002", "1003", "5001", "5003", "5004", "١٠٠١", "５００３", "9"])
IDS = st.builds(
    lambda pad, prefix, digits, tail: f"{pad}{prefix}{digits}{tail}",
    _PAD,
    st.sampled_from(["ACC-", "acc-", "TX-", "tx-", "ＴＸ-", "TX", "TX–", "Acc-", ""]),
    _DIGITS,
    _PAD,
)
_AMOUNT_WORDS = (
    "129.00|129|0.01|64.20|1,000.00|12 EUR|-5|0|-0|NaN|Infinity|1e999999|1e-999999|0.005||  |١٢"
)
AMOUNTS = st.sampled_from([*_AMOUNT_WORDS.split("|"), "1" * 400]) | st.decimals(
    allow_nan=False, allow_infinity=False, places=2
).map(str)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "account_id": IDS,
    "transaction_id": IDS,
    "amount": AMOUNTS,
    "reason": st.text(max_size=300),
    "query": st.text(max_size=300),
    "k": st.integers(),
    "expression": st.text(max_size=60),
}


def _arguments(fields: list[str]) -> st.SearchStrategy[str]:
    """Objects with the tool's fields (near-miss values, wrong types), other JSON, non-JSON."""
    well_typed = st.fixed_dictionaries({f: FIELD_VALUES[f] | JSONISH for f in fields})
    extra = st.dictionaries(st.sampled_from(fields) | st.text(max_size=6), JSONISH, max_size=3)
    return (
        well_typed.map(json.dumps)
        | st.fixed_dictionaries({f: FIELD_VALUES[f] for f in fields}).map(json.dumps)
        | extra.map(json.dumps)
        | st.text(max_size=60)
    )


@pytest.fixture(autouse=True)
def _hang_watchdog() -> Iterator[None]:
    """End a frozen run with every thread's stack instead of hanging the suite."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ledger, ToolRegistry]:
    """The banking agent's tools, as `build_agent` wires them, over a fresh ledger."""
    ledger = Ledger(create_ledger(tmp_path_factory.mktemp("bank") / "bank.db"))
    kb = KnowledgeBase.from_folder(KB_DIR)
    return ledger, ToolRegistry([kb.as_tool(), *ledger.tools(), calculator])


def _assert_ledger_consistent(path: Path) -> None:
    """No payment refunded past its amount; each balance = seed + refunds on its payments."""
    with sqlite3.connect(path) as db:
        over = db.execute(
            "SELECT t.id, t.amount, r.transaction_id, r.amount FROM refunds r"
            " LEFT JOIN transactions t ON t.id = r.transaction_id"
        ).fetchall()
        balances = dict(db.execute("SELECT id, balance FROM accounts").fetchall())
        owners = dict(db.execute("SELECT id, account_id FROM transactions").fetchall())
    refunded: dict[str, Decimal] = {}
    for tx, amount, key, value in over:
        assert tx == key, f"refund booked under a key that is no payment: {key!r}"
        refunded[tx] = refunded.get(tx, Decimal(0)) + Decimal(value)
        assert refunded[tx] <= Decimal(amount), (tx, refunded[tx], amount)
    for account, _, _, _, seed in ACCOUNTS:
        moved = sum((v for tx, v in refunded.items() if owners[tx] == account), Decimal(0))
        assert Decimal(balances[account]) == Decimal(seed) + moved, account


def _bank_call(bank: tuple[Ledger, ToolRegistry], data: st.DataObject) -> None:
    ledger, registry = bank
    name = data.draw(st.sampled_from(registry.names))
    arguments = data.draw(_arguments(list(registry[name].args_model.model_fields)))
    result = anyio.run(registry.execute, "fuzz", name, arguments)
    assert result.error in TYPED_FAILURES, (name, arguments, result.content)
    timeout_s = registry[name].timeout_s
    assert timeout_s is not None and result.elapsed_ms < timeout_s * 500, (name, arguments)
    _assert_ledger_consistent(ledger.path)


@FAST
@given(data=st.data())
def test_bank_tools_give_typed_outcomes_and_keep_the_ledger_consistent(
    bank: tuple[Ledger, ToolRegistry], data: st.DataObject
) -> None:
    _bank_call(bank, data)


_PAYMENTS = (("ACC-1001", "5002"), ("ACC-1001", "5003"), ("ACC-1002", "5004"))
REFUNDS = st.builds(
    lambda payment, pads, lower, amount: {
        "account_id": f"{pads[0]}{payment[0].lower() if lower else payment[0]}{pads[1]}",
        "transaction_id": f"{pads[2]}{'tx-' if lower else 'TX-'}{payment[1]}{pads[3]}",
        "amount": amount,
        "reason": "fuzz",
    },
    st.sampled_from(_PAYMENTS),
    st.tuples(_PAD, _PAD, _PAD, _PAD),
    st.booleans(),
    st.sampled_from(["129.00", "100", "64.20", "30.5", "0.01", "480.00", "250", "1e999999"]),
)


def _run_refunds(
    bank: tuple[Ledger, ToolRegistry], refunds: list[dict[str, str]], concurrent: bool
) -> None:
    ledger, registry = bank
    create_ledger(ledger.path)  # every example starts from the seeded ledger
    texts = [json.dumps(r) for r in refunds]
    calls = [
        {"id": str(i), "function": {"name": "refund", "arguments": a}} for i, a in enumerate(texts)
    ]

    async def run_all() -> list[ToolResult]:
        if concurrent:
            return await registry.execute_many(calls)
        return [await registry.execute(str(i), "refund", a) for i, a in enumerate(texts)]

    results = anyio.run(run_all)
    assert all(r.error in TYPED_FAILURES for r in results), results
    _assert_ledger_consistent(ledger.path)


@settings(FAST, max_examples=30)  # each example re-seeds the SQLite file (~30 ms)
@given(refunds=st.lists(REFUNDS, min_size=2, max_size=6), concurrent=st.booleans())
def test_refund_sequences_never_exceed_a_payment(
    bank: tuple[Ledger, ToolRegistry], refunds: list[dict[str, str]], concurrent: bool
) -> None:
    """Near-valid refunds, spelled every way, one after another or all at once."""
    _run_refunds(bank, refunds, concurrent)


@FAST
@given(headline=st.text(max_size=200) | st.from_regex(r"\$?[0-9.]{1,12} (vs|of) \$?[0-9.e]{1,12}"))
def test_trading_numeric_facts_never_raise(headline: str) -> None:
    registry = ToolRegistry([calculator])
    facts = anyio.run(numeric_facts, headline, registry)
    assert isinstance(facts, list) and all(isinstance(f, str) for f in facts)
    assert isinstance(needs_numeric_reasoning(headline), bool)


@pytest.mark.slow
@settings(FAST, max_examples=500)
@given(refunds=st.lists(REFUNDS, min_size=2, max_size=12), concurrent=st.booleans())
def test_refund_sequences_long(
    bank: tuple[Ledger, ToolRegistry], refunds: list[dict[str, str]], concurrent: bool
) -> None:
    _run_refunds(bank, refunds, concurrent)


@pytest.mark.slow
@LONG
@given(data=st.data())
def test_bank_tools_long(bank: tuple[Ledger, ToolRegistry], data: st.DataObject) -> None:
    _bank_call(bank, data)
