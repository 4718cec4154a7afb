"""The market's SQL for its unit of work: instruments, orders and fills, on the
transaction's DBAPI connection (:class:`nmrx.platform.sql.Sql`; why plain statements:
see there). The money of orders and fills (holds, transfers) is written by the one
ledger path, :mod:`nmrx.wallet.repo`. Read-only market data and the invariant snapshot
are :mod:`nmrx.market.queries`.

**Serialising an instrument.** Every change of a book starts by locking the instrument:
``SELECT … FOR UPDATE`` of its row on PostgreSQL (other transactions on the same
instrument wait until this one commits); on SQLite the transaction already holds the
single write lock (``BEGIN IMMEDIATE``).

:class:`OrderRow` and :class:`FillRow` are *the* rows of an order and a fill in code
(``MarketOrder`` and ``Fill`` in :mod:`nmrx.market.tables` define the tables).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from nmrx.market.orderbook import OrderBook
from nmrx.market.orders import RestingOrder, Side
from nmrx.market.rules import FINAL_FILL_STATES
from nmrx.platform.sql import Sql
from nmrx.wallet.repo import BALANCE_OF_KEY


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


class MarketRepo(Sql):
    """The market's statements on one transaction (create one per transaction)."""

    # ------------------------------------------------------------------ instruments

    def instrument(self, instrument_id: int, *, lock: bool = True) -> InstrumentRow | None:
        row = self.one(
            "SELECT i.id, i.model_id, i.tournament, i.mode, i.round_number, i.state, "
            "i.trading_closes_at, i.next_seq, i.book_seq, m.owner_user_id, m.name "
            "FROM instruments i JOIN numerai_models m ON m.id = i.model_id WHERE i.id = :id"
            + (self.lock_of("i") if lock else ""),
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
        return None if row is None else self._order(row)

    def _order(self, row: tuple) -> OrderRow:
        order = OrderRow(*row)
        order.created_at = self.read_time(order.created_at)
        order.updated_at = self.read_time(order.updated_at)
        return order

    def open_order_ids(self, instrument_id: int) -> list[int]:
        rows = self.all(
            "SELECT id FROM orders WHERE state = 'open' AND instrument_id = :i ORDER BY id",
            {"i": instrument_id},
        )
        return [r[0] for r in rows]

    def orders_of(
        self, user_id: int, *, state: str | None, instrument_id: int | None, limit: int
    ) -> list[OrderRow]:
        """The user's orders, newest first."""
        where = "user_id = :u"
        if state is not None:
            where += " AND state = :s"
        if instrument_id is not None:
            where += " AND instrument_id = :i"
        rows = self.all(
            f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders WHERE {where} "
            "ORDER BY id DESC LIMIT :n",
            {"u": user_id, "s": state, "i": instrument_id, "n": limit},
        )
        return [self._order(row) for row in rows]

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
            "SELECT suspended_at FROM users WHERE id = :u" + self.share_lock, {"u": user_id}
        )
        return row is not None and row[0] is not None

    def seller_figures(self, user_id: int, collateral_key: str) -> tuple[int, int, int, int]:
        """(collateral balance, notional of unsettled sales, stake bonds as a buyer, notional
        of open asks)."""
        row = self.one(
            f"SELECT {BALANCE_OF_KEY}, "
            "(SELECT COALESCE(SUM(notional), 0) FROM fills "
            f" WHERE seller_user_id = :u AND state NOT IN ({_FINAL})), "
            "(SELECT COALESCE(SUM(buyer_collateral), 0) FROM fills "
            f" WHERE buyer_user_id = :u AND state NOT IN ({_FINAL})), "
            "(SELECT COALESCE(SUM(remaining * price), 0) FROM orders "
            " WHERE user_id = :u AND state = 'open' AND side = 'ask')",
            {"key": collateral_key, "u": user_id},
        )
        assert row is not None
        return int(row[0] or 0), int(row[1]), int(row[2]), int(row[3])

    def slot(self, model_id: int) -> SlotRow | None:
        row = self.one(
            "SELECT m.id, m.name, m.tournament, m.owner_user_id, k.scopes FROM numerai_models m "
            "LEFT JOIN numerai_api_keys k ON k.id = m.api_key_id WHERE m.id = :id",
            {"id": model_id},
        )
        return None if row is None else SlotRow(*row)


__all__ = ["MarketRepo", "InstrumentRow", "OrderRow", "FillRow", "SlotRow"]
