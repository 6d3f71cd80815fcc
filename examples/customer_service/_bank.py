"""A demo bank ledger in SQLite, and the ``account_lookup`` and ``refund`` tools over it.

The ledger is a real file the example creates and seeds: the tools read and
write it through the standard library's ``sqlite3`` (one connection per call,
since sync tools run in worker threads), so a test can check what a turn did
to the data, not just what the model said.

Ids are canonicalised once, by the argument models (`LookupRequest`,
`RefundRequest`): ``" tx-5003"`` becomes ``"TX-5003"`` before anything reads or
writes, so one payment has one key everywhere. A refund reads what was already
refunded and writes the new refund inside one ``BEGIN IMMEDIATE`` transaction,
so concurrent refunds are serialised and can never exceed the payment together.

Refunds above `INSTANT_REFUND_LIMIT` (100 EUR, the policy's instant limit) wait for
a specialist: the ``refund`` tool needs approval for them, so such a turn ends
``awaiting_approval`` and ``Runner.resume`` books it once approved.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from tools import Tool, ToolArgumentError

__all__ = [
    "ACCOUNTS",
    "INSTANT_REFUND_LIMIT",
    "Ledger",
    "LookupRequest",
    "RefundRequest",
    "create_ledger",
    "needs_specialist",
]

_Request = TypeVar("_Request", bound=BaseModel)

INSTANT_REFUND_LIMIT = Decimal("100.00")
"""Refunds up to this many EUR are credited at once; larger ones wait for a specialist's
approval (the policy in ``kb/``; the ``refund`` tool's ``needs_approval``)."""
_TOOL_TIMEOUT_S = 2.0
# A write waits for the lock at most this long, well inside the tool's timeout: a busy
# ledger is an error the model reads, not a refund reported as timed out that still books.
_LOCK_WAIT_S = 1.0

ACCOUNTS: tuple[tuple[str, str, str, str, str], ...] = (
    # (account id, holder, email, plan, balance EUR)
    ("ACC-1001", "Ada Lovelace", "ada@example.com", "standard", "1250.40"),
    ("ACC-1002", "Alan Turing", "alan@example.com", "premium", "8400.00"),
    ("ACC-1003", "Grace Hopper", "grace@example.com", "standard", "310.75"),
)
_TRANSACTIONS: tuple[tuple[str, str, str, str, str], ...] = (
    # (transaction id, account id, date, merchant, amount EUR)
    ("TX-5001", "ACC-1001", "2026-11-02", "Bookshop Paris", "42.90"),
    ("TX-5002", "ACC-1001", "2026-11-03", "Rail Europe", "129.00"),
    ("TX-5003", "ACC-1001", "2026-11-03", "Rail Europe", "129.00"),
    ("TX-5004", "ACC-1002", "2026-11-10", "Hotel Lisboa", "480.00"),
    ("TX-5005", "ACC-1003", "2026-11-12", "Grocer", "64.20"),
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, holder TEXT NOT NULL, email TEXT NOT NULL,
    plan TEXT NOT NULL, balance TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id),
    date TEXT NOT NULL, merchant TEXT NOT NULL, amount TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT, transaction_id TEXT NOT NULL
    REFERENCES transactions(id), amount TEXT NOT NULL, reason TEXT NOT NULL);
"""


def create_ledger(path: str | Path) -> Path:
    """Create (or reset) the demo ledger at ``path``: three accounts, five card payments.

    Amounts are stored as decimal strings: money is never a float here.

    Args:
        path: The SQLite file to write (its folder must exist).

    Returns:
        The path, for chaining.
    """
    path = Path(path)
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA)
        db.execute("DELETE FROM refunds")
        db.execute("DELETE FROM transactions")
        db.execute("DELETE FROM accounts")
        db.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?, ?)", ACCOUNTS)
        db.executemany("INSERT INTO transactions VALUES (?, ?, ?, ?, ?)", _TRANSACTIONS)
    return path


def _canonical_id(value: Any) -> Any:
    """``" tx-5003 "`` -> ``"TX-5003"``: the one spelling every query and write uses."""
    if isinstance(value, str):
        return unicodedata.normalize("NFKC", value).strip().upper()
    return value


AccountId = Annotated[
    str,
    Field(pattern=r"^ACC-[0-9]{4}$", description="The account id, like ACC-1001."),
    BeforeValidator(_canonical_id),
]
TransactionId = Annotated[
    str,
    Field(pattern=r"^TX-[0-9]{4}$", description="The payment id, like TX-5001."),
    BeforeValidator(_canonical_id),
]


def _drop_description(schema: dict[str, Any]) -> None:
    """The docstring is the tool's description already: not again in its parameters."""
    schema.pop("description", None)


_ARGS = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_drop_description)


class LookupRequest(BaseModel):
    """Look up a bank account: holder, plan, balance and recent card payments."""

    model_config = _ARGS

    account_id: AccountId


class RefundRequest(BaseModel):
    """Refund part or all of a card payment (validated against the ledger)."""

    model_config = _ARGS

    account_id: AccountId
    transaction_id: TransactionId
    amount: str = Field(description='The amount to refund in EUR, like "129.00".')
    reason: str = Field(description="Why: not received, charged twice, wrong amount or fraud.")


def _request(model: type[_Request], **fields: str) -> _Request:
    """Validate direct calls with the tools' own argument models (same keys, typed errors)."""
    try:
        return model(**fields)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        raise ToolArgumentError(problems) from exc


def _money(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", "").replace("EUR", "").strip())
        if not value.is_finite():
            raise InvalidOperation
        return value.quantize(Decimal("0.01"))
    except InvalidOperation as exc:  # also quantize of 1e999999: too many digits
        raise ToolArgumentError(f"amount {text!r} is not a number of euros") from exc


class Ledger:
    """The demo ledger: lookups and validated refunds.

    Args:
        path: An existing ledger file (see `create_ledger`).

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> ledger = Ledger(create_ledger(folder / "bank.db"))
        >>> ledger.refund("ACC-1001", "TX-5003", "129.00", "charged twice")["refunded"]
        '129.00'
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _db(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction per call; ``write`` takes the write lock before the first read."""
        db = sqlite3.connect(self.path, timeout=_LOCK_WAIT_S, isolation_level=None)
        try:
            # IMMEDIATE: a refund's check and its write see no other writer in between.
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def lookup(self, account_id: str) -> dict[str, object]:
        """The account's holder, plan, balance and card payments (with refunds so far).

        Raises:
            ToolArgumentError: No such account, or not an account id.
        """
        return self.apply_lookup(_request(LookupRequest, account_id=account_id))

    def apply_lookup(self, request: LookupRequest) -> dict[str, object]:
        """`lookup` for already validated (canonical) arguments."""
        with self._db() as db:
            row = db.execute(
                "SELECT id, holder, email, plan, balance FROM accounts WHERE id = ?",
                (request.account_id,),
            ).fetchone()
            if row is None:
                raise ToolArgumentError(f"no account {request.account_id!r}")
            txs = db.execute(
                "SELECT t.id, t.date, t.merchant, t.amount,"
                " COALESCE((SELECT group_concat(r.amount, '+') FROM refunds r"
                " WHERE r.transaction_id = t.id), '') FROM transactions t"
                " WHERE t.account_id = ? ORDER BY t.id",
                (row[0],),
            ).fetchall()
        payments = [
            {"id": t[0], "date": t[1], "merchant": t[2], "amount": t[3], "refunded": _sum(t[4])}
            for t in txs
        ]
        return {
            "account": row[0],
            "holder": row[1],
            "email": row[2],
            "plan": row[3],
            "balance": row[4],
            "payments": payments,
        }

    def refund(
        self, account_id: str, transaction_id: str, amount: str, reason: str
    ) -> dict[str, str]:
        """Refund ``amount`` of a payment, if the ledger allows it; credits the balance.

        The refund rule of the policy documents: never more than the payment's
        amount minus what was already refunded on it.

        Raises:
            ToolArgumentError: Malformed ids, unknown payment, another account's
                payment, or a non-positive or too-large amount (the model can
                correct itself).
        """
        fields = {"account_id": account_id, "transaction_id": transaction_id}
        return self.apply_refund(_request(RefundRequest, **fields, amount=amount, reason=reason))

    def apply_refund(self, request: RefundRequest) -> dict[str, str]:
        """`refund` for already validated (canonical) arguments: check and write atomically."""
        value = _money(request.amount)
        if value <= 0:
            raise ToolArgumentError(f"refund amount must be positive, got {value}")
        tx, account = request.transaction_id, request.account_id
        with self._db(write=True) as db:
            row = db.execute(
                "SELECT account_id, amount FROM transactions WHERE id = ?", (tx,)
            ).fetchone()
            if row is None or row[0] != account:
                raise ToolArgumentError(f"no payment {tx!r} on account {account!r}")
            done = db.execute(
                "SELECT amount FROM refunds WHERE transaction_id = ?", (tx,)
            ).fetchall()
            left = Decimal(row[1]) - sum((Decimal(r[0]) for r in done), Decimal(0))
            if value > left:
                raise ToolArgumentError(
                    f"refund of {value} exceeds what is refundable on {tx} ({left})"
                )
            db.execute(
                "INSERT INTO refunds (transaction_id, amount, reason) VALUES (?, ?, ?)",
                (tx, str(value), request.reason[:200]),
            )
            db.execute(
                "UPDATE accounts SET balance = ? WHERE id = ?",
                (str(_balance(db, account) + value), account),
            )
        return {"transaction": tx, "refunded": str(value), "left": str(left - value)}

    def tools(self) -> list[Tool]:
        """``account_lookup`` and ``refund`` as tools the agent can call."""
        return [
            Tool.from_model(
                LookupRequest,
                lambda r: json.dumps(self.apply_lookup(r)),
                name="account_lookup",
                timeout_s=_TOOL_TIMEOUT_S,
            ),
            Tool.from_model(
                RefundRequest,
                lambda r: json.dumps(self.apply_refund(r)),
                name="refund",
                timeout_s=_TOOL_TIMEOUT_S,
                needs_approval=needs_specialist,
            ),
        ]


def needs_specialist(request: RefundRequest) -> bool:
    """Whether a refund waits for a specialist: above `INSTANT_REFUND_LIMIT`.

    An amount that is not a number does not wait: the tool itself refuses it, and
    the model reads why.
    """
    try:
        return _money(request.amount) > INSTANT_REFUND_LIMIT
    except ToolArgumentError:
        return False


def _sum(joined: str) -> str:
    return str(sum((Decimal(x) for x in joined.split("+") if x), Decimal("0.00")))


def _balance(db: sqlite3.Connection, account_id: str) -> Decimal:
    row = db.execute("SELECT balance FROM accounts WHERE id = ?", (account_id,)).fetchone()
    return Decimal(row[0])
