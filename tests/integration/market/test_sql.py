"""The market's plain-SQL holds write the same rows as the ledger adapter's."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from nmrx.market.sql import MarketSql
from nmrx.platform.bootstrap import Container
from nmrx.platform.clock import utcnow
from nmrx.wallet import repo as ledger_db
from nmrx.wallet.money import nmr
from nmrx.wallet.rules import AccountKind, InsufficientFunds, LedgerError, platform_account_key
from nmrx.wallet.tables import LedgerAccount, LedgerHold, LedgerTransfer
from tests.support.builders import make_user

ESCROW = platform_account_key(AccountKind.ESCROW)


def _story(c: Container, user_id: int, via_sql: bool) -> None:
    """Hold 10, post 3 to escrow, post 2 back to available, void the rest; a second hold
    posted whole; a third voided untouched."""
    now = utcnow()
    p = f"u{user_id}"
    with c.db.transaction() as s:
        if via_sql:
            sql = MarketSql.of(s)
            sql.place_hold(
                hold_id=f"{p}h1", user_id=user_id, amount=nmr(10), purpose="bid", now=now
            )
            sql.post_hold(
                hold_id=f"{p}h1",
                transfer_id=f"{p}t1",
                amount=nmr(3),
                credit=ESCROW,
                code="test_escrow",
                now=now,
            )
            sql.post_hold(
                hold_id=f"{p}h1",
                transfer_id=f"{p}t2",
                amount=nmr(2),
                credit=f"user:{user_id}:available",
                code="price_improvement",
                now=now,
            )
            sql.void_hold(hold_id=f"{p}h1", now=now)
            sql.void_hold(hold_id=f"{p}h1", now=now)
            sql.place_hold(hold_id=f"{p}h2", user_id=user_id, amount=nmr(4), purpose="bid", now=now)
            sql.post_hold(
                hold_id=f"{p}h2",
                transfer_id=f"{p}t3",
                amount=nmr(4),
                credit=ESCROW,
                code="test_escrow",
                now=now,
            )
            sql.place_hold(hold_id=f"{p}h3", user_id=user_id, amount=nmr(1), purpose="bid", now=now)
            sql.void_hold(hold_id=f"{p}h3", now=now)
        else:
            ledger_db.place_hold(
                s, hold_id=f"{p}h1", user_id=user_id, amount=nmr(10), purpose="bid"
            )
            ledger_db.post_hold(
                s,
                hold_id=f"{p}h1",
                transfer_id=f"{p}t1",
                amount=nmr(3),
                credit=ESCROW,
                code="test_escrow",
            )
            ledger_db.post_hold(
                s,
                hold_id=f"{p}h1",
                transfer_id=f"{p}t2",
                amount=nmr(2),
                credit=f"user:{user_id}:available",
                code="price_improvement",
            )
            ledger_db.void_hold(s, hold_id=f"{p}h1")
            ledger_db.void_hold(s, hold_id=f"{p}h1")
            ledger_db.place_hold(s, hold_id=f"{p}h2", user_id=user_id, amount=nmr(4), purpose="bid")
            ledger_db.post_hold(
                s,
                hold_id=f"{p}h2",
                transfer_id=f"{p}t3",
                amount=nmr(4),
                credit=ESCROW,
                code="test_escrow",
            )
            ledger_db.place_hold(s, hold_id=f"{p}h3", user_id=user_id, amount=nmr(1), purpose="bid")
            ledger_db.void_hold(s, hold_id=f"{p}h3")


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


def test_plain_sql_holds_leave_the_same_rows_as_the_ledger_adapter(container: Container) -> None:
    orm_user = make_user(container, funds=nmr(20))
    sql_user = make_user(container, funds=nmr(20))
    _story(container, orm_user.id, via_sql=False)
    _story(container, sql_user.id, via_sql=True)
    assert _rows(container, sql_user.id) == _rows(container, orm_user.id)
    assert _rows(container, sql_user.id)[2] == {"available": nmr(13), "held": 0, "collateral": 0}


def test_plain_sql_holds_refuse_what_the_ledger_refuses(container: Container) -> None:
    user = make_user(container, funds=nmr(1))
    with pytest.raises(InsufficientFunds), container.db.transaction() as s:
        MarketSql.of(s).place_hold(
            hold_id="big", user_id=user.id, amount=nmr(2), purpose="bid", now=utcnow()
        )
    with container.db.transaction() as s:
        MarketSql.of(s).place_hold(
            hold_id="h", user_id=user.id, amount=nmr(1), purpose="bid", now=utcnow()
        )
    with pytest.raises(LedgerError, match="only"), container.db.transaction() as s:
        MarketSql.of(s).post_hold(
            hold_id="h", transfer_id="t", amount=nmr(2), credit=ESCROW, code="x", now=utcnow()
        )
    with pytest.raises(LedgerError, match="no such hold"), container.db.transaction() as s:
        MarketSql.of(s).void_hold(hold_id="nope", now=utcnow())
    with container.db.transaction() as s:
        MarketSql.of(s).void_hold(hold_id="h", now=utcnow())
    with container.db.transaction() as s:
        assert ledger_db.balances(s, user.id)[AccountKind.AVAILABLE] == nmr(1)
