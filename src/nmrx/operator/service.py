"""Operator use cases: the role, finding and reading an account, suspension and
reinstatement, the audit trail, the reserves. Every decision is recorded in the audit
trail with who, when and why; suspension is published as ``AccountSuspended`` and the
market cancels the account's open orders in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from nmrx.accounts.tables import User
from nmrx.market import service as market
from nmrx.market.service import OrderView
from nmrx.operator import repo
from nmrx.operator.rules import (
    GRANT,
    REINSTATE,
    REVOKE,
    SUSPEND,
    AuditFilter,
    OperatorError,
    Reserves,
    check_reason,
    reserves,
    user_subject,
)
from nmrx.platform.db import Database
from nmrx.platform.errors import Conflict, InvalidInput, NotFound
from nmrx.platform.events import AccountSuspended
from nmrx.settlement import service as settlement
from nmrx.settlement.service import FillSummary
from nmrx.wallet import service as wallet
from nmrx.wallet.service import Balances

if TYPE_CHECKING:
    from nmrx.platform.bootstrap import Container

NOT_FOUND = "page not found"  # what a non-operator sees: the console is not advertised


@dataclass(frozen=True)
class AccountRow:
    id: int
    username: str
    created_at: datetime
    is_operator: bool
    suspended_at: datetime | None
    suspended_reason: str | None

    @property
    def status(self) -> str:
        return "suspended" if self.suspended_at else "active"


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str | None  # the actor's username; None: the system or the command line
    action: str
    subject: str
    detail: str


@dataclass(frozen=True)
class AccountView:
    account: AccountRow
    balances: Balances
    open_orders: list[OrderView]
    fills: list[FillSummary]
    decisions: list[AuditEntry]


def _row(u: User) -> AccountRow:
    return AccountRow(
        u.id, u.username, u.created_at, u.is_operator, u.suspended_at, u.suspended_reason
    )


def _reason(reason: str | None) -> str:
    try:
        return check_reason(reason)
    except OperatorError as exc:
        raise InvalidInput(str(exc)) from exc


def require_operator(db: Database, user_id: int | None) -> AccountRow:
    """The calling operator, or ``NotFound`` for anyone else (anonymous included)."""
    if user_id is None:
        raise NotFound(NOT_FOUND)
    with db.transaction() as session:
        user = repo.user_by_id(session, user_id)
        if user is None or not user.is_operator or user.suspended_at is not None:
            raise NotFound(NOT_FOUND)
        return _row(user)


# ------------------------------------------------------------------ the role


def set_role(db: Database, *, username: str, operator: bool, by: str) -> AccountRow:
    """Grant or revoke the operator role (``nmrx operator grant|revoke``); ``by`` says who
    ran it (the command line has no account), recorded in the audit trail."""
    with db.transaction() as session:
        user = repo.user_by_name(session, username, lock=True)
        if user is None:
            raise NotFound(f"no account named '{username}'")
        if user.is_operator != operator:
            user.is_operator = operator
            repo.record(
                session,
                actor=None,
                action=GRANT if operator else REVOKE,
                subject=user_subject(user.id),
                detail=by,
            )
        return _row(user)


# ------------------------------------------------------------------ accounts


def find_accounts(db: Database, text: str, *, limit: int = 50) -> list[AccountRow]:
    with db.transaction() as session:
        return [_row(u) for u in repo.find_users(session, text, limit=limit)]


def suspended_accounts(db: Database, *, limit: int = 100) -> list[AccountRow]:
    with db.transaction() as session:
        return [_row(u) for u in repo.suspended_users(session, limit=limit)]


def account(c: Container, *, user_id: int) -> AccountView:
    with c.db.transaction() as session:
        user = repo.user_by_id(session, user_id)
        if user is None:
            raise NotFound(f"no account {user_id}")
        row = _row(user)
    decisions = audit_trail(c.db, AuditFilter(subject=row.username), limit=50)
    return AccountView(
        account=row,
        balances=wallet.balances(c.db, user_id=user_id),
        open_orders=market.list_orders(c, user_id=user_id, state="open", limit=200),
        fills=settlement.fills_of_user(c, user_id=user_id, limit=20),
        decisions=decisions,
    )


def suspend(c: Container, *, operator_id: int, user_id: int, reason: str | None) -> AccountRow:
    """Suspend an account: it can no longer trade, withdraw or log in (its sessions and API
    tokens stop working) and its open orders are cancelled, bids' holds voided, in this
    one transaction."""
    why = _reason(reason)
    now = c.clock.now()  # the market's time: the cancelled orders' update
    with c.db.transaction() as session:
        user = repo.user_by_id(session, user_id, lock=True)
        if user is None:
            raise NotFound(f"no account {user_id}")
        if user.id == operator_id:
            raise Conflict("you cannot suspend your own account")
        if user.suspended_at is not None:
            raise Conflict(f"{user.username} is already suspended")
        user.suspended_at = now
        user.suspended_reason = why
        session.flush()
        c.bus.publish(
            AccountSuspended(user_id=user.id, operator_user_id=operator_id, reason=why, at=now),
            session=session,
        )
        repo.record(
            session,
            actor=operator_id,
            action=SUSPEND,
            subject=user_subject(user.id),
            detail=why,
        )
        return _row(user)


def reinstate(c: Container, *, operator_id: int, user_id: int, reason: str | None) -> AccountRow:
    """Lift a suspension: the account may log in and trade again (its cancelled orders stay
    cancelled and its standing orders paused until it resumes them)."""
    why = _reason(reason)
    with c.db.transaction() as session:
        user = repo.user_by_id(session, user_id, lock=True)
        if user is None:
            raise NotFound(f"no account {user_id}")
        if user.suspended_at is None:
            raise Conflict(f"{user.username} is not suspended")
        user.suspended_at = None
        user.suspended_reason = None
        repo.record(
            session,
            actor=operator_id,
            action=REINSTATE,
            subject=user_subject(user.id),
            detail=why,
        )
        return _row(user)


# ------------------------------------------------------------------ audit, reserves


def audit_trail(db: Database, f: AuditFilter, *, limit: int = 200) -> list[AuditEntry]:
    with db.transaction() as session:
        rows = repo.audit_events(session, f, limit=limit)
        if rows is None:
            return []
        return [
            AuditEntry(e.id, e.created_at, actor, e.action, e.subject, e.detail)
            for e, actor in rows
        ]


def audit_actions(db: Database) -> list[str]:
    with db.transaction() as session:
        return repo.audit_actions(session)


def ledger_reserves(db: Database) -> Reserves:
    return reserves(wallet.ledger_totals(db))
