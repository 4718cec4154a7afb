"""The operator's decisions through the services: the role, suspension (orders cancelled,
holds voided, login, tokens, trading and withdrawal refused), reinstatement, the audit
trail and the reserves (market-rules §13)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from nmrx.accounts import service as accounts
from nmrx.market import service as orders
from nmrx.market.rules import StandingState
from nmrx.market.tables import MarketOrder, StandingOrder
from nmrx.operator import service as operator
from nmrx.operator.rules import AuditFilter, audit_filter
from nmrx.platform.bootstrap import Container
from nmrx.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr
from nmrx.wallet.tables import LedgerHold
from tests.support.books import NOW, instrument_id, make_seller, open_market
from tests.support.builders import PASSWORD, UserRef, make_token, make_user


def _operator(c: Container) -> UserRef:
    op = make_user(c, username="opal")
    operator.set_role(c.db, username="opal", operator=True, by="test")
    return op


def _bid(c: Container, user: UserRef, instrument: int, price: str = "0.5"):  # type: ignore[no-untyped-def]
    return orders.place_order(
        c,
        user_id=user.id,
        instrument_id=instrument,
        side="bid",
        quantity=2,
        price=nmr(price),
        now=NOW,
    )


def test_grant_and_revoke_the_role_are_recorded_and_only_operators_pass(
    container: Container,
) -> None:
    user = make_user(container, username="olga")
    with pytest.raises(NotFound):
        operator.require_operator(container.db, user.id)
    with pytest.raises(NotFound):
        operator.require_operator(container.db, None)

    row = operator.set_role(container.db, username="OLGA", operator=True, by="cli (root)")
    assert row.is_operator
    assert operator.require_operator(container.db, user.id).username == "olga"
    operator.set_role(container.db, username="olga", operator=True, by="again: no change")
    operator.set_role(container.db, username="olga", operator=False, by="cli (root)")
    with pytest.raises(NotFound):
        operator.require_operator(container.db, user.id)
    with pytest.raises(NotFound, match="no account named 'nobody'"):
        operator.set_role(container.db, username="nobody", operator=True, by="cli")

    trail = operator.audit_trail(container.db, audit_filter(subject="olga", action="operator."))
    assert [(e.action, e.actor, e.detail) for e in trail] == [
        ("operator.revoke", None, "cli (root)"),
        ("operator.grant", None, "cli (root)"),
    ]


def test_suspension_cancels_orders_voids_holds_and_refuses_everything_until_reinstated(
    container: Container,
) -> None:
    c = container
    seller = make_seller(c)
    open_market(c)
    book = instrument_id(c, seller.model_id)
    op = _operator(c)
    buyer = make_user(c, funds=nmr(10), username="bella")
    token = make_token(c, buyer)
    first = _bid(c, buyer, book, "0.5").order
    second = _bid(c, buyer, book, "0.4").order
    with c.db.transaction() as s:
        s.add(
            StandingOrder(
                user_id=buyer.id,
                model_id=seller.model_id,
                mode="file",
                side="bid",
                state=StandingState.ACTIVE.value,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    assert wallet.balances(c.db, user_id=buyer.id).held == nmr("1.8")

    with pytest.raises(InvalidInput, match="reason"):
        operator.suspend(c, operator_id=op.id, user_id=buyer.id, reason="  ")
    with pytest.raises(Conflict, match="your own account"):
        operator.suspend(c, operator_id=op.id, user_id=op.id, reason="testing myself")
    row = operator.suspend(c, operator_id=op.id, user_id=buyer.id, reason="suspected wash trading")
    assert row.status == "suspended" and row.suspended_reason == "suspected wash trading"
    with pytest.raises(Conflict, match="already suspended"):
        operator.suspend(c, operator_id=op.id, user_id=buyer.id, reason="suspected again")

    # Its open orders are cancelled through the market, the holds voided by the ledger.
    with c.db.transaction() as s:
        states = {
            o.id: (o.state, o.cancel_reason)
            for o in s.scalars(select(MarketOrder).where(MarketOrder.user_id == buyer.id))
        }
        holds = s.scalars(select(LedgerHold).where(LedgerHold.user_id == buyer.id)).all()
        standing = s.scalars(select(StandingOrder).where(StandingOrder.user_id == buyer.id)).all()
    assert states == {
        first.id: ("cancelled", "suspended"),
        second.id: ("cancelled", "suspended"),
    }
    assert {h.state for h in holds} == {"voided"} and all(h.remaining == 0 for h in holds)
    assert [s.state for s in standing] == ["paused"]
    balances = wallet.balances(c.db, user_id=buyer.id)
    assert (balances.available, balances.held) == (nmr(10), 0)
    assert operator.account(c, user_id=buyer.id).open_orders == []

    # It cannot log in, use its tokens, trade or withdraw.
    with pytest.raises(Forbidden, match="suspended by the operator: it cannot log in"):
        accounts.authenticate(c.db, username="bella", password=PASSWORD)
    with pytest.raises(Forbidden, match="its API tokens do not work"):
        accounts.principal_for_token(c.db, token, clock=c.clock)
    with pytest.raises(Forbidden, match="suspended by the operator: it may not place orders"):
        _bid(c, buyer, book)
    with pytest.raises(Forbidden, match="suspended by the operator: it cannot withdraw"):
        wallet.withdraw(c.db, user_id=buyer.id, amount=nmr(1))
    # A wrong password says nothing about the suspension.
    with pytest.raises(Exception, match="wrong username or password"):
        accounts.authenticate(c.db, username="bella", password="not-the-password")

    # Reinstated: it works again; what was cancelled stays cancelled.
    with pytest.raises(InvalidInput, match="reason"):
        operator.reinstate(c, operator_id=op.id, user_id=buyer.id, reason="")
    row = operator.reinstate(c, operator_id=op.id, user_id=buyer.id, reason="cleared on review")
    assert row.status == "active" and row.suspended_reason is None
    with pytest.raises(Conflict, match="not suspended"):
        operator.reinstate(c, operator_id=op.id, user_id=buyer.id, reason="cleared twice")
    assert accounts.authenticate(c.db, username="bella", password=PASSWORD).user_id == buyer.id
    assert accounts.principal_for_token(c.db, token, clock=c.clock).user_id == buyer.id
    assert _bid(c, buyer, book).order.state == "open"
    wallet.withdraw(c.db, user_id=buyer.id, amount=nmr(1))

    # Every decision: who, when, why.
    trail = operator.audit_trail(c.db, AuditFilter(actor="opal", action="account."))
    assert [(e.action, e.actor, e.subject, e.detail) for e in trail] == [
        ("account.reinstate", "opal", f"user:{buyer.id}", "cleared on review"),
        ("account.suspend", "opal", f"user:{buyer.id}", "suspected wash trading"),
    ]
    assert all(e.at is not None for e in trail)
    assert [
        e.action for e in operator.audit_trail(c.db, audit_filter(action="account.suspend"))
    ] == ["account.suspend"]
    assert operator.audit_trail(c.db, audit_filter(subject="nobody-here")) == []
    assert operator.audit_trail(c.db, audit_filter(until="2000-01-01")) == []


def test_a_suspended_seller_loses_its_asks(container: Container) -> None:
    c = container
    seller = make_seller(c)
    open_market(c)
    book = instrument_id(c, seller.model_id)
    op = _operator(c)
    ask = orders.place_order(
        c,
        user_id=seller.user.id,
        instrument_id=book,
        side="ask",
        quantity=3,
        price=nmr("1"),
        now=NOW,
    ).order
    operator.suspend(c, operator_id=op.id, user_id=seller.user.id, reason="leaked files")
    assert orders.get_order(c, user_id=seller.user.id, order_id=ask.id).state == "cancelled"
    with pytest.raises(Forbidden, match="suspended"):
        orders.sell_now(c, user_id=seller.user.id, instrument_id=book, quantity=1, now=NOW)


def test_find_accounts_and_the_reserves_panel(container: Container) -> None:
    c = container
    make_user(c, funds=nmr(30), username="findme")
    make_user(c, funds=nmr(20), username="findme_too")
    make_user(c, username="other")
    assert [a.username for a in operator.find_accounts(c.db, "FINDME")] == ["findme", "findme_too"]
    assert [a.username for a in operator.find_accounts(c.db, "%")] == []
    r = operator.ledger_reserves(c.db)
    assert r.available == nmr(50) and r.owed_to_users == nmr(50)
    assert r.in_custody == nmr(50) and r.balanced


def test_no_order_placed_concurrently_with_a_suspension_stays_open(container: Container) -> None:
    """Placements racing a suspension: each either lands before it (and is cancelled by it)
    or is refused after it; none is left open (PostgreSQL: the user row's share lock)."""
    import threading

    from nmrx.platform.errors import ServiceError

    c = container
    seller = make_seller(c)
    open_market(c)
    book = instrument_id(c, seller.model_id)
    op = _operator(c)
    buyer = make_user(c, funds=nmr(100), username="racer")
    start = threading.Barrier(5)
    refused: list[str] = []

    def place(i: int) -> None:
        start.wait()
        for k in range(6):
            try:
                _bid(c, buyer, book, f"0.{i + 1}{k}")
            except ServiceError as exc:
                refused.append(exc.message)

    def suspend() -> None:
        start.wait()
        operator.suspend(c, operator_id=op.id, user_id=buyer.id, reason="racing the book")

    threads = [threading.Thread(target=place, args=(i,)) for i in range(4)]
    threads.append(threading.Thread(target=suspend))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with c.db.transaction() as s:
        still_open = s.scalars(
            select(MarketOrder.id).where(
                MarketOrder.user_id == buyer.id, MarketOrder.state == "open"
            )
        ).all()
    assert still_open == []
    assert all("suspended" in m for m in refused)
    assert wallet.balances(c.db, user_id=buyer.id).held == 0
