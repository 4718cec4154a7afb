"""The order book's hot path in plain SQL, on the session's own DBAPI connection.

A placement is a dozen small statements; through the ORM each costs ~0.2 ms on this
machine, through the DBAPI cursor a few microseconds, which is what makes 1,000+
durable placements a second possible on SQLite (``bench/placements.py``). Everything
here runs inside the caller's transaction (the session's connection) and never commits.

The bids' holds are written here too, with the same rows and the same rules as
:mod:`nmrx.wallet.repo` (``place_hold`` / ``post_hold`` / ``void_hold``): the
rules come from :mod:`nmrx.wallet.rules` (``validate_transfer``, ``check_funds``,
``hold_transition``); account rows are locked in id order on PostgreSQL. The only
difference: a new bid's hold id is derived from the new order's id, so the idempotency
look-ups of a *new* hold or transfer are skipped. ``tests/integration/test_market_sql.py``
checks that both paths leave identical rows.

SQL is written with ``:name`` parameters (sqlite3's style) and rewritten to
``%(name)s`` for psycopg. Times are stored as SQLAlchemy's ``UtcDateTime`` stores them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from nmrx.market.orderbook import OrderBook
from nmrx.market.orders import RestingOrder, Side
from nmrx.market.rules import FINAL_FILL_STATES
from nmrx.platform.db import writer_lock
from nmrx.wallet.rules import (
    AccountKind,
    HoldState,
    InsufficientFunds,
    LedgerError,
    TransferSpec,
    check_funds,
    hold_transition,
    user_account_key,
    validate_transfer,
)

_PARAM = re.compile(r"(?<![:\w]):(\w+)")


@dataclass(slots=True)
class InstrumentRow:
    id: int
    model_id: int
    tournament: str
    mode: str
    round_number: int
    state: str
    trading_closes_at: datetime
    next_seq: int
    book_seq: int
    owner_user_id: int | None
    model_name: str


@dataclass(slots=True)
class OrderRow:
    id: int
    user_id: int
    instrument_id: int
    client_order_id: str
    side: str
    order_type: str
    price: int
    quantity: int
    filled: int
    remaining: int
    state: str
    cancel_reason: str | None
    seq: int | None
    collateral_per_unit: int
    slot_model_id: int | None
    hold_id: str | None
    standing_order_id: int | None
    created_at: datetime
    updated_at: datetime


ORDER_COLUMNS = [f.name for f in fields(OrderRow)]


@dataclass(slots=True)
class FillRow:
    id: int
    instrument_id: int
    buy_order_id: int
    sell_order_id: int
    buyer_user_id: int
    seller_user_id: int
    taker_side: str
    price: int
    quantity: int
    notional: int
    fee_rate_bp: int
    buyer_collateral: int
    slot_model_id: int | None
    state: str
    created_at: datetime
    updated_at: datetime


FILL_COLUMNS = [f.name for f in fields(FillRow)]


def _insert(table: str, columns: list[str]) -> str:
    names = [c for c in columns if c != "id"]
    return (
        f"INSERT INTO {table} ({', '.join(names)}) "
        f"VALUES ({', '.join(':' + c for c in names)}) RETURNING id"
    )


_INSERT_ORDER = _insert("orders", ORDER_COLUMNS)
_INSERT_FILL = _insert("fills", FILL_COLUMNS)
_FINAL = ", ".join(f"'{s}'" for s in sorted(FINAL_FILL_STATES))


@dataclass(frozen=True, slots=True)
class SlotRow:
    id: int
    name: str
    tournament: str
    owner_user_id: int | None
    scopes: str | None  # of its API key; None without a key


class MarketSql:
    """Plain statements on the session's connection (create one per transaction)."""

    _converted: dict[str, str] = {}
    _account_ids: dict[str, int] = {}  # account key → id: rows are never re-keyed

    def __init__(self, driver_connection: Any, *, pg: bool) -> None:
        self.pg = pg
        self.cursor = driver_connection.cursor()
        self.lock = " FOR UPDATE" if pg else ""
        self._last_time: tuple[object, object] = (None, None)

    @classmethod
    def of(cls, session: Session) -> MarketSql:
        """On the connection of an ORM session's transaction."""
        session.flush()  # ORM rows added earlier in the transaction go first
        connection = session.connection()
        return cls(
            connection.connection.driver_connection,
            pg=connection.dialect.name == "postgresql",
        )

    # ------------------------------------------------------------------ plumbing

    def _sql(self, sql: str) -> str:
        if not self.pg:
            return sql
        done = self._converted.get(sql)
        if done is None:
            done = self._converted[sql] = _PARAM.sub(r"%(\1)s", sql)
        return done

    def run(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self.cursor.execute(self._sql(sql), params or {})

    def one(self, sql: str, params: dict[str, Any] | None = None) -> tuple | None:
        self.cursor.execute(self._sql(sql), params or {})
        return self.cursor.fetchone()

    def all(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        self.cursor.execute(self._sql(sql), params or {})
        return self.cursor.fetchall()

    def time(self, moment: datetime) -> object:
        """A time as ``UtcDateTime`` stores it (text on SQLite)."""
        if moment is self._last_time[0]:
            return self._last_time[1]
        utc = moment.astimezone(UTC)
        stored = utc if self.pg else utc.strftime("%Y-%m-%d %H:%M:%S.%f")
        self._last_time = (moment, stored)
        return stored

    @staticmethod
    def read_time(value: object) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)

    # ------------------------------------------------------------------ instruments

    def instrument(self, instrument_id: int, *, lock: bool = True) -> InstrumentRow | None:
        row = self.one(
            "SELECT i.id, i.model_id, i.tournament, i.mode, i.round_number, i.state, "
            "i.trading_closes_at, i.next_seq, i.book_seq, m.owner_user_id, m.name "
            "FROM instruments i JOIN numerai_models m ON m.id = i.model_id WHERE i.id = :id"
            + (" FOR UPDATE OF i" if self.pg and lock else ""),
            {"id": instrument_id},
        )
        if row is None:
            return None
        values = list(row)
        values[6] = self.read_time(values[6])
        return InstrumentRow(*values)

    def save_instrument(self, i: InstrumentRow, closed_at: datetime | None = None) -> None:
        self.run(
            "UPDATE instruments SET next_seq = :next_seq, book_seq = :book_seq, state = :state, "
            "closed_at = COALESCE(:closed_at, closed_at) WHERE id = :id",
            {
                "next_seq": i.next_seq,
                "book_seq": i.book_seq,
                "state": i.state,
                "closed_at": self.time(closed_at) if closed_at else None,
                "id": i.id,
            },
        )

    def build_book(self, instrument: InstrumentRow) -> OrderBook:
        """The instrument's book rebuilt from its open orders, in time priority."""
        rows = self.all(
            "SELECT id, user_id, side, price, quantity, remaining, seq FROM orders "
            "WHERE instrument_id = :i AND state = 'open' ORDER BY seq",
            {"i": instrument.id},
        )
        book = OrderBook(instrument.id)
        book.restore(
            [RestingOrder(str(i), u, Side(s), p, q, r, seq) for i, u, s, p, q, r, seq in rows],
            next_seq=instrument.next_seq,
        )
        return book

    # ------------------------------------------------------------------ orders and fills

    def order_id_for(self, user_id: int, client_order_id: str) -> int | None:
        row = self.one(
            "SELECT id FROM orders WHERE user_id = :u AND client_order_id = :c",
            {"u": user_id, "c": client_order_id},
        )
        return None if row is None else row[0]

    def insert_order(self, values: dict[str, Any]) -> OrderRow:
        params = dict(values)
        for c in ("created_at", "updated_at"):
            params[c] = self.time(values[c])
        row = self.one(_INSERT_ORDER, params)
        assert row is not None
        return OrderRow(row[0], **values)

    def order(self, order_id: int) -> OrderRow | None:
        row = self.one(
            f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders WHERE id = :id", {"id": order_id}
        )
        if row is None:
            return None
        order = OrderRow(*row)
        order.created_at = self.read_time(order.created_at)
        order.updated_at = self.read_time(order.updated_at)
        return order

    def open_order_ids(self, where: str, params: dict[str, Any]) -> list[int]:
        rows = self.all(
            f"SELECT id FROM orders WHERE state = 'open' AND {where} ORDER BY id", params
        )
        return [r[0] for r in rows]

    def save_order(self, o: OrderRow) -> None:
        self.run(
            "UPDATE orders SET filled = :filled, remaining = :remaining, state = :state, "
            "cancel_reason = :cancel_reason, seq = :seq, hold_id = :hold_id, "
            "updated_at = :updated_at WHERE id = :id",
            {
                "filled": o.filled,
                "remaining": o.remaining,
                "state": o.state,
                "cancel_reason": o.cancel_reason,
                "seq": o.seq,
                "hold_id": o.hold_id,
                "updated_at": self.time(o.updated_at),
                "id": o.id,
            },
        )

    def insert_fill(self, values: dict[str, Any]) -> FillRow:
        params = dict(values)
        for c in ("created_at", "updated_at"):
            params[c] = self.time(values[c])
        row = self.one(_INSERT_FILL, params)
        assert row is not None
        return FillRow(row[0], **values)

    def fills_of(self, order_id: int) -> list[FillRow]:
        rows = self.all(
            f"SELECT {', '.join(FILL_COLUMNS)} FROM fills "
            "WHERE buy_order_id = :o OR sell_order_id = :o ORDER BY id",
            {"o": order_id},
        )
        fills = [FillRow(*r) for r in rows]
        for f in fills:
            f.created_at, f.updated_at = self.read_time(f.created_at), self.read_time(f.updated_at)
        return fills

    # ------------------------------------------------------------------ rules' inputs

    def suspended(self, user_id: int) -> bool:
        """Whether an operator suspended the user. On PostgreSQL the row is share-locked: a
        suspension (an update of it) waits for this transaction, and it for the suspension."""
        row = self.one(
            "SELECT suspended_at FROM users WHERE id = :u" + (" FOR SHARE" if self.pg else ""),
            {"u": user_id},
        )
        return row is not None and row[0] is not None

    def available(self, user_id: int) -> int:
        row = self.one(
            "SELECT credits - debits FROM ledger_accounts WHERE key = :k",
            {"k": user_account_key(user_id, AccountKind.AVAILABLE)},
        )
        return 0 if row is None else int(row[0])

    def seller_figures(self, user_id: int) -> tuple[int, int, int]:
        """(collateral balance, notional of unsettled sales, stake bonds as a buyer)."""
        row = self.one(
            "SELECT (SELECT credits - debits FROM ledger_accounts WHERE key = :k), "
            "(SELECT COALESCE(SUM(notional), 0) FROM fills "
            f" WHERE seller_user_id = :u AND state NOT IN ({_FINAL})), "
            "(SELECT COALESCE(SUM(buyer_collateral), 0) FROM fills "
            f" WHERE buyer_user_id = :u AND state NOT IN ({_FINAL}))",
            {"k": user_account_key(user_id, AccountKind.COLLATERAL), "u": user_id},
        )
        assert row is not None
        return int(row[0] or 0), int(row[1]), int(row[2])

    def slot(self, model_id: int) -> SlotRow | None:
        row = self.one(
            "SELECT m.id, m.name, m.tournament, m.owner_user_id, k.scopes FROM numerai_models m "
            "LEFT JOIN numerai_api_keys k ON k.id = m.api_key_id WHERE m.id = :id",
            {"id": model_id},
        )
        return None if row is None else SlotRow(*row)

    # ------------------------------------------------------------------ holds

    def _accounts(self, keys: Iterable[str]) -> dict[str, tuple[int, int, int, bool]]:
        """key → (id, debits, credits, may_go_negative), locked in id order on PostgreSQL."""
        wanted = sorted(set(keys))
        marks = ", ".join(f":k{i}" for i in range(len(wanted)))
        rows = self.all(
            f"SELECT key, id, debits, credits, may_go_negative FROM ledger_accounts "
            f"WHERE key IN ({marks}) ORDER BY id{self.lock}",
            {f"k{i}": k for i, k in enumerate(wanted)},
        )
        found = {r[0]: (r[1], r[2], r[3], bool(r[4])) for r in rows}
        missing = [k for k in wanted if k not in found]
        if missing:
            raise LedgerError(f"unknown ledger account: {', '.join(missing)}")
        return found

    def _transfer(self, spec: TransferSpec, now: datetime) -> None:
        """A new transfer (its id is fresh): check funds, move totals, append the row."""
        validate_transfer(spec)
        accounts = self._accounts([spec.debit, spec.credit])
        debit_id, debits, credits, negative = accounts[spec.debit]
        credit_id = accounts[spec.credit][0]
        check_funds(
            balance=credits - debits,
            amount=spec.amount,
            allowed_negative=negative,
            what=f"{spec.debit.split(':')[-1]} account",
        )
        self.run(
            "UPDATE ledger_accounts SET debits = debits + :a WHERE id = :id",
            {"a": spec.amount, "id": debit_id},
        )
        self.run(
            "UPDATE ledger_accounts SET credits = credits + :a WHERE id = :id",
            {"a": spec.amount, "id": credit_id},
        )
        self.run(
            "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, code, "
            "hold_id, memo, created_at) VALUES (:id, :d, :c, :a, :code, :h, :memo, :t)",
            {
                "id": spec.id,
                "d": debit_id,
                "c": credit_id,
                "a": spec.amount,
                "code": spec.code,
                "h": spec.hold_id,
                "memo": spec.memo,
                "t": self.time(now),
            },
        )

    def place_hold(
        self, *, hold_id: str, user_id: int, amount: int, purpose: str, now: datetime
    ) -> None:
        """A new hold (``hold_id`` never used): available → held. Raises InsufficientFunds."""
        self.run(
            "INSERT INTO ledger_holds (id, user_id, amount, remaining, state, purpose, "
            "created_at, updated_at) VALUES (:id, :u, :a, :a, :s, :p, :t, :t)",
            {
                "id": hold_id,
                "u": user_id,
                "a": amount,
                "s": HoldState.PENDING.value,
                "p": purpose,
                "t": self.time(now),
            },
        )
        self._transfer(
            TransferSpec(
                id=f"{hold_id}:place",
                debit=user_account_key(user_id, AccountKind.AVAILABLE),
                credit=user_account_key(user_id, AccountKind.HELD),
                amount=amount,
                code="hold",
                hold_id=hold_id,
            ),
            now,
        )

    def _hold(self, hold_id: str) -> tuple[int, int, str]:
        row = self.one(
            f"SELECT user_id, remaining, state FROM ledger_holds WHERE id = :id{self.lock}",
            {"id": hold_id},
        )
        if row is None:
            raise LedgerError(f"no such hold: {hold_id}")
        return row[0], row[1], row[2]

    def post_hold(
        self, *, hold_id: str, transfer_id: str, amount: int, credit: str, code: str, now: datetime
    ) -> None:
        """Move part of a pending hold to ``credit`` (``transfer_id`` never used)."""
        user_id, remaining, state = self._hold(hold_id)
        if amount > remaining:
            raise LedgerError(
                f"cannot post {amount} units of hold {hold_id}: only {remaining} remain"
            )
        target = HoldState.POSTED if amount == remaining else HoldState.PENDING
        new_state = hold_transition(HoldState(state), target).value
        self._transfer(
            TransferSpec(
                id=transfer_id,
                debit=user_account_key(user_id, AccountKind.HELD),
                credit=credit,
                amount=amount,
                code=code,
                hold_id=hold_id,
            ),
            now,
        )
        self.run(
            "UPDATE ledger_holds SET remaining = :r, state = :s, updated_at = :t WHERE id = :id",
            {"r": remaining - amount, "s": new_state, "t": self.time(now), "id": hold_id},
        )

    def void_hold(self, *, hold_id: str, now: datetime) -> None:
        """Return what remains of a hold to available funds; voiding twice is a no-op."""
        user_id, remaining, state = self._hold(hold_id)
        if state == HoldState.VOIDED.value:
            return
        new_state = hold_transition(HoldState(state), HoldState.VOIDED).value
        if remaining:
            self._transfer(
                TransferSpec(
                    id=f"{hold_id}:void",
                    debit=user_account_key(user_id, AccountKind.HELD),
                    credit=user_account_key(user_id, AccountKind.AVAILABLE),
                    amount=remaining,
                    code="hold_void",
                    hold_id=hold_id,
                ),
                now,
            )
        self.run(
            "UPDATE ledger_holds SET remaining = 0, state = :s, updated_at = :t WHERE id = :id",
            {"s": new_state, "t": self.time(now), "id": hold_id},
        )


@contextmanager
def raw_transaction(engine: Engine) -> Iterator[MarketSql]:
    """A transaction straight on a pooled DBAPI connection, without an ORM session (the
    session's own begin/commit machinery costs about as much as a whole placement's SQL).
    SQLite: ``BEGIN IMMEDIATE`` as :mod:`nmrx.platform.db` does; commits or rolls
    back like ``Database.transaction``."""
    with writer_lock(engine):
        pooled = engine.raw_connection()
        driver = pooled.driver_connection
        assert driver is not None  # a checked-out pooled connection has its driver connection
        pg = engine.dialect.name == "postgresql"
        try:
            if not pg:
                driver.execute("BEGIN IMMEDIATE")
            yield MarketSql(driver, pg=pg)
            driver.commit()
        except BaseException:
            driver.rollback()
            raise
        finally:
            pooled.close()


__all__ = ["MarketSql", "InstrumentRow", "OrderRow", "FillRow", "SlotRow", "InsufficientFunds"]
