"""The persistent ledger on a real database: idempotent transfers, holds, refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from nmrx.platform.bootstrap import Container
from nmrx.wallet import ledger
from nmrx.wallet import repo as ledger_db
from nmrx.wallet import service as wallet
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
from nmrx.wallet.tables import LedgerTransfer
from tests.support.builders import make_user

ESCROW = platform_account_key(AccountKind.ESCROW)


def avail(user_id: int) -> str:
    return user_account_key(user_id, AccountKind.AVAILABLE)


def transfer_count(container: Container) -> int:
    with container.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(LedgerTransfer)) or 0


def test_retrying_a_transfer_id_returns_the_original_and_moves_nothing(
    container: Container,
) -> None:
    alice = make_user(container, funds=nmr(10))
    bob = make_user(container)
    spec = TransferSpec("pay-1", avail(alice.id), avail(bob.id), nmr(3), "test")
    ledger.transfer(container.db, spec)
    ledger.transfer(container.db, spec)
    assert wallet.balances(container.db, user_id=bob.id).available == nmr(3)
    assert wallet.balances(container.db, user_id=alice.id).available == nmr(7)


def test_reusing_a_transfer_id_for_another_transfer_is_refused(container: Container) -> None:
    alice = make_user(container, funds=nmr(10))
    bob = make_user(container)
    ledger.transfer(
        container.db, TransferSpec("pay-1", avail(alice.id), avail(bob.id), nmr(3), "test")
    )
    with pytest.raises(TransferConflict):
        ledger.transfer(
            container.db, TransferSpec("pay-1", avail(alice.id), avail(bob.id), nmr(4), "test")
        )


def test_an_overdraft_is_refused_and_writes_nothing(container: Container) -> None:
    alice = make_user(container, funds=nmr(1))
    bob = make_user(container)
    before = transfer_count(container)
    with pytest.raises(InsufficientFunds):
        ledger.transfer(
            container.db, TransferSpec("big", avail(alice.id), avail(bob.id), nmr(2), "test")
        )
    assert transfer_count(container) == before
    assert wallet.balances(container.db, user_id=alice.id).available == nmr(1)


def test_a_hold_moves_funds_to_held_and_posts_in_parts(container: Container) -> None:
    alice = make_user(container, funds=nmr(10))
    ledger.place_hold(container.db, hold_id="bid-1", user_id=alice.id, amount=nmr(6), purpose="bid")
    assert wallet.balances(container.db, user_id=alice.id) == wallet.Balances(nmr(4), nmr(6), 0)
    ledger.post_hold(
        container.db,
        hold_id="bid-1",
        transfer_id="fill-1",
        amount=nmr(2),
        credit=ESCROW,
        code="fill",
    )
    ledger.post_hold(
        container.db,
        hold_id="bid-1",
        transfer_id="fill-1",
        amount=nmr(2),
        credit=ESCROW,
        code="fill",
    )
    assert wallet.balances(container.db, user_id=alice.id).held == nmr(4)
    ledger.void_hold(container.db, hold_id="bid-1")
    ledger.void_hold(container.db, hold_id="bid-1")
    assert wallet.balances(container.db, user_id=alice.id) == wallet.Balances(nmr(8), 0, 0)
    with container.db.transaction() as s:
        assert ledger_db.balances(s, alice.id)[AccountKind.AVAILABLE] == nmr(8)


def test_posting_more_than_remains_is_refused(container: Container) -> None:
    alice = make_user(container, funds=nmr(10))
    ledger.place_hold(container.db, hold_id="bid-1", user_id=alice.id, amount=nmr(2), purpose="bid")
    with pytest.raises(LedgerError, match="only 200000000 remain"):
        ledger.post_hold(
            container.db,
            hold_id="bid-1",
            transfer_id="f",
            amount=nmr(3),
            credit=ESCROW,
            code="fill",
        )
    assert wallet.balances(container.db, user_id=alice.id).held == nmr(2)


def test_a_hold_beyond_available_funds_is_refused_and_writes_nothing(container: Container) -> None:
    alice = make_user(container, funds=nmr(1))
    with pytest.raises(InsufficientFunds):
        ledger.place_hold(
            container.db, hold_id="bid-1", user_id=alice.id, amount=nmr(2), purpose="bid"
        )
    assert wallet.balances(container.db, user_id=alice.id) == wallet.Balances(nmr(1), 0, 0)
    with pytest.raises(LedgerError, match="no such hold"):
        ledger.void_hold(container.db, hold_id="bid-1")


def test_a_fully_posted_hold_cannot_be_voided_into_money(container: Container) -> None:
    alice = make_user(container, funds=nmr(5))
    ledger.place_hold(container.db, hold_id="bid-1", user_id=alice.id, amount=nmr(2), purpose="bid")
    ledger.post_hold(
        container.db, hold_id="bid-1", transfer_id="f", amount=nmr(2), credit=ESCROW, code="fill"
    )
    with pytest.raises(LedgerError, match="posted hold cannot become voided"):
        ledger.void_hold(container.db, hold_id="bid-1")
    assert wallet.balances(container.db, user_id=alice.id) == wallet.Balances(nmr(3), 0, 0)


def test_ledger_check_reports_a_tampered_balance(container: Container) -> None:
    alice = make_user(container, funds=nmr(5))
    with container.db.transaction() as s:
        from nmrx.wallet.tables import LedgerAccount

        row = s.scalars(select(LedgerAccount).where(LedgerAccount.key == avail(alice.id))).one()
        row.credits += 1
    problems = ledger.check(container.db)
    assert any("differ from its transfers" in p for p in problems)
    assert any("sum over all accounts is 1 units" in p for p in problems)
    with container.db.transaction() as s:
        row = s.scalars(select(LedgerAccount).where(LedgerAccount.key == avail(alice.id))).one()
        row.credits -= 1
