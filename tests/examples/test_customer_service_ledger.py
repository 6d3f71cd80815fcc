"""The demo ledger under hostile arguments: one key per payment, atomic refund limits."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from examples.customer_service import Ledger, create_ledger
from tools import ToolArgumentError, ToolRegistry

SPELLINGS = ("TX-5003", " TX-5003", "TX-5003 ", "tx-5003", "\tTX-5003\n", "ＴＸ-５００３")


def _refund_args(transaction_id: str, amount: str, account_id: str = "ACC-1001") -> str:
    return json.dumps(
        {
            "account_id": account_id,
            "transaction_id": transaction_id,
            "amount": amount,
            "reason": "charged twice",
        }
    )


def _refunded(ledger: Ledger, tx: str = "TX-5003") -> Decimal:
    payments = ledger.lookup("ACC-1001")["payments"]
    assert isinstance(payments, list)
    return next(Decimal(p["refunded"]) for p in payments if p["id"] == tx)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(create_ledger(tmp_path / "bank.db"))


def test_every_spelling_of_one_payment_is_refunded_once_through_the_tools(ledger: Ledger) -> None:
    registry = ToolRegistry(ledger.tools())

    async def refund_each() -> list[tuple[bool, str]]:
        results = []
        for i, tx in enumerate(SPELLINGS):
            result = await registry.execute(f"r{i}", "refund", _refund_args(tx, "129.00"))
            results.append((result.ok, result.content))
        return results

    results = anyio.run(refund_each)
    assert results[0][0], results[0]
    assert json.loads(results[0][1])["transaction"] == "TX-5003"
    assert [ok for ok, _ in results[1:]] == [False] * (len(SPELLINGS) - 1)
    assert all("exceeds" in content for _, content in results[1:]), results
    assert _refunded(ledger) == Decimal("129.00")
    assert ledger.lookup(" acc-1001 ")["balance"] == "1379.40"  # 1250.40 + 129.00, once


def test_every_spelling_of_one_payment_is_refunded_once_directly(ledger: Ledger) -> None:
    assert ledger.refund(" acc-1001", "TX-5003", "129.00", "charged twice")["left"] == "0.00"
    for tx in SPELLINGS[1:]:
        with pytest.raises(ToolArgumentError, match="exceeds"):
            ledger.refund("ACC-1001", tx, "0.01", "again")
    assert _refunded(ledger) == Decimal("129.00")


@pytest.mark.parametrize(
    ("account_id", "transaction_id", "amount", "needle"),
    [
        ("ACC-1001", "TX-5003x", "1", "transaction_id"),
        ("ACC-1001", "TX-\u200b5003", "1", "transaction_id"),
        ("ACC-1001", "TX-\u0665\u0660\u0660\u0663", "1", "transaction_id"),  # Arabic digits
        ("ACC 1001", "TX-5003", "1", "account_id"),
        ("ACC-1001", "TX-5003", "1e999999", "not a number"),
        ("ACC-1001", "TX-5003", "NaN", "not a number"),
        ("ACC-1001", "TX-5003", "0", "positive"),
    ],
)
def test_malformed_arguments_are_typed_errors_and_book_nothing(
    ledger: Ledger, account_id: str, transaction_id: str, amount: str, needle: str
) -> None:
    with pytest.raises(ToolArgumentError, match=needle):
        ledger.refund(account_id, transaction_id, amount, "x")
    registry = ToolRegistry(ledger.tools())
    args = _refund_args(transaction_id, amount, account_id)
    result = anyio.run(registry.execute, "r", "refund", args)
    assert (result.ok, result.error) == (False, "validation"), result
    assert _refunded(ledger) == 0


def _race(ledger: Ledger, tx: str, amount: str, workers: int) -> list[str]:
    """Refund ``amount`` from ``workers`` threads released at once; return what was booked."""
    barrier = threading.Barrier(workers)
    booked: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            booked.append(ledger.refund("ACC-1001", tx, amount, "race")["refunded"])
        except ToolArgumentError:
            pass
        except BaseException as exc:  # a lock timeout or a crash fails the test
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    return booked


@pytest.mark.parametrize(
    ("tx", "amount", "workers"), [("TX-5003", "100.00", 8), ("TX-5002", "10.00", 16)]
)
def test_concurrent_refunds_never_exceed_the_payment(
    ledger: Ledger, tx: str, amount: str, workers: int
) -> None:
    """The check and the write of each refund are one transaction, so exactly what fits books."""
    booked = _race(ledger, tx, amount, workers)
    fits = int(Decimal("129.00") // Decimal(amount))
    assert len(booked) == fits, booked
    assert _refunded(ledger, tx) == fits * Decimal(amount)


def test_concurrent_refunds_through_the_registry_never_exceed_the_payment(ledger: Ledger) -> None:
    registry = ToolRegistry(ledger.tools())
    calls = [
        {
            "id": f"r{i}",
            "function": {"name": "refund", "arguments": _refund_args(SPELLINGS[i % 3], "50.00")},
        }
        for i in range(12)
    ]
    results = anyio.run(registry.execute_many, calls)
    assert sum(r.ok for r in results) == 2  # 2 x 50.00 fit in 129.00, a third does not
    assert all(r.error == "validation" for r in results if not r.ok), results
    assert _refunded(ledger) == Decimal("100.00")


def test_a_busy_ledger_fails_the_call_before_its_timeout_and_books_nothing(ledger: Ledger) -> None:
    """The lock wait ends inside the tool's timeout: no refund reported as timed out books later."""
    registry = ToolRegistry(ledger.tools())
    holder = sqlite3.connect(ledger.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the ledger
    try:
        result = anyio.run(registry.execute, "r", "refund", _refund_args("TX-5003", "10.00"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (result.ok, result.error) == (False, "exception"), result
    assert "locked" in result.content
    time.sleep(0.3)  # an abandoned call would book now that the lock is free
    assert _refunded(ledger) == 0
