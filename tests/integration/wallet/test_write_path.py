"""The one write path of money (``nmrx.wallet.repo``): the market's session-less
transactions and ORM sessions' transactions write the same rows, refuse the same
movements, and a retried transfer or hold id changes nothing on either."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from nmrx.platform.bootstrap import Container
from nmrx.platform.clock import utcnow
from nmrx.platform.sql import Sql, raw_transaction
from nmrx.wallet import repo as ledger_db
from nmrx.wallet.money import nmr
from nmrx.wallet.rules import (
    AccountKind,
    InsufficientFunds,
    LedgerError,
    TransferConflict,
    TransferSpec,
    platform_account_key,
    user_account_key,
)
from nmrx.wallet.tables import LedgerAccount, LedgerHold, LedgerTransfer
from tests.support.builders import make_user

ESCROW = platform_account_key(AccountKind.ESCROW)


def _story(c: Container, user_id: int, session_less: bool) -> None:
    """Hold 10, post 3 to escrow, post 2 back to available, void the rest; a second hold
    posted whole; a third voided untouched."""
    now = utcnow()
    p = f"u{user_id}"
    if session_less:  # as the market's hot path: a plain transaction, no ORM session
        with raw_transaction(c.db.engine, Sql) as sql:
            _moves(sql, p, user_id, now)
    else:
        with c.db.transaction() as s:
            _moves(s, p, user_id, None)


def _moves(t: Session | Sql, p: str, user_id: int, now: datetime | None) -> None:
    """The same functions on a Session or on a Sql."""
    ledger_db.place_hold(
        t, hold_id=f"{p}h1", user_id=user_id, amount=nmr(10), purpose="bid", now=now
    )
    ledger_db.post_hold(
        t,
        hold_id=f"{p}h1",
        transfer_id=f"{p}t1",
        amount=nmr(3),
        credit=ESCROW,
        code="test_escrow",
        now=now,
    )
    ledger_db.post_hold(
        t,
        hold_id=f"{p}h1",
        transfer_id=f"{p}t2",
        amount=nmr(2),
        credit=f"user:{user_id}:available",
        code="price_improvement",
        now=now,
    )
    ledger_db.void_hold(t, hold_id=f"{p}h1", now=now)
    ledger_db.void_hold(t, hold_id=f"{p}h1", now=now)
    ledger_db.place_hold(
        t, hold_id=f"{p}h2", user_id=user_id, amount=nmr(4), purpose="bid", now=now
    )
    ledger_db.post_hold(
        t,
        hold_id=f"{p}h2",
        transfer_id=f"{p}t3",
        amount=nmr(4),
        credit=ESCROW,
        code="test_escrow",
        now=now,
    )
    ledger_db.place_hold(
        t, hold_id=f"{p}h3", user_id=user_id, amount=nmr(1), purpose="bid", now=now
    )
    ledger_db.void_hold(t, hold_id=f"{p}h3", now=now)


def _rows(c: Container, user_id: int) -> tuple[list, list, dict]:
    p = f"u{user_id}"
    with c.db.transaction() as s:
        holds = [
            (h.id.removeprefix(p), h.user_id == user_id, h.amount, h.remaining, h.state, h.purpose)
            for h in s.scalars(
                select(LedgerHold).where(LedgerHold.user_id == user_id).order_by(LedgerHold.id)
            )
        ]
        keys = {
            a.id: a.key.replace(f":{user_id}:", ":me:") for a in s.scalars(select(LedgerAccount))
        }
        transfers = [
            (
                t.id.removeprefix(p),
                keys[t.debit_account_id],
                keys[t.credit_account_id],
                t.amount,
                t.code,
                (t.hold_id or "").removeprefix(p),
                t.memo,
            )
            for t in s.scalars(
                select(LedgerTransfer)
                .where(LedgerTransfer.id.startswith(p))
                .order_by(LedgerTransfer.seq)
            )
        ]
        balances = {k.value: v for k, v in ledger_db.balances(s, user_id).items()}
    return holds, transfers, balances


def test_session_less_holds_leave_the_same_rows_as_a_sessions(container: Container) -> None:
    orm_user = make_user(container, funds=nmr(20))
    sql_user = make_user(container, funds=nmr(20))
    _story(container, orm_user.id, session_less=False)
    _story(container, sql_user.id, session_less=True)
    assert _rows(container, sql_user.id) == _rows(container, orm_user.id)
    assert _rows(container, sql_user.id)[2] == {"available": nmr(13), "held": 0, "collateral": 0}


def test_session_less_holds_refuse_what_the_ledger_refuses(container: Container) -> None:
    user = make_user(container, funds=nmr(1))
    engine = container.db.engine
    with pytest.raises(InsufficientFunds), raw_transaction(engine, Sql) as sql:
        ledger_db.place_hold(sql, hold_id="big", user_id=user.id, amount=nmr(2), purpose="bid")
    with raw_transaction(engine, Sql) as sql:
        ledger_db.place_hold(sql, hold_id="h", user_id=user.id, amount=nmr(1), purpose="bid")
    with pytest.raises(LedgerError, match="only"), raw_transaction(engine, Sql) as sql:
        ledger_db.post_hold(
            sql, hold_id="h", transfer_id="t", amount=nmr(2), credit=ESCROW, code="x"
        )
    with pytest.raises(LedgerError, match="no such hold"), raw_transaction(engine, Sql) as sql:
        ledger_db.void_hold(sql, hold_id="nope")
    with raw_transaction(engine, Sql) as sql:
        ledger_db.void_hold(sql, hold_id="h")
    with container.db.transaction() as s:
        assert ledger_db.balances(s, user.id)[AccountKind.AVAILABLE] == nmr(1)
        assert s.get(LedgerHold, "big") is None  # a refused hold writes nothing


def test_the_market_paths_transfer_is_idempotent(container: Container) -> None:
    """The same transfer id posted twice (the market's session-less path) moves money once;
    the same hold id placed twice holds once; a used id asked for something else raises."""
    alice, bob = make_user(container, funds=nmr(10)), make_user(container, funds=nmr(10))
    spec = TransferSpec(
        "retry-1",
        user_account_key(alice.id, AccountKind.AVAILABLE),
        user_account_key(bob.id, AccountKind.AVAILABLE),
        nmr(3),
        "p2p",
    )
    engine = container.db.engine
    for _ in range(2):
        with raw_transaction(engine, Sql) as sql:
            ledger_db.transfer(sql, spec)
    with raw_transaction(engine, Sql) as sql:
        ledger_db.transfers(sql, [spec, spec])
    for _ in range(2):
        with raw_transaction(engine, Sql) as sql:
            ledger_db.place_hold(sql, hold_id="bid", user_id=alice.id, amount=nmr(4), purpose="bid")
            ledger_db.post_hold(
                sql, hold_id="bid", transfer_id="bid:1", amount=nmr(1), credit=ESCROW, code="x"
            )
    with pytest.raises(TransferConflict), raw_transaction(engine, Sql) as sql:
        ledger_db.transfer(sql, TransferSpec("retry-1", spec.debit, spec.credit, nmr(4), "p2p"))
    with pytest.raises(TransferConflict), raw_transaction(engine, Sql) as sql:
        ledger_db.place_hold(sql, hold_id="bid", user_id=alice.id, amount=nmr(5), purpose="bid")
    with container.db.transaction() as s:
        assert ledger_db.balances(s, alice.id) == {
            AccountKind.AVAILABLE: nmr(3),
            AccountKind.HELD: nmr(3),
            AccountKind.COLLATERAL: 0,
        }
        assert ledger_db.balances(s, bob.id)[AccountKind.AVAILABLE] == nmr(13)
        ids = s.scalars(select(LedgerTransfer.id).where(LedgerTransfer.id.like("retry-%"))).all()
        assert ids == ["retry-1"]
