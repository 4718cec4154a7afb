"""Ledger persistence: applies the rules of ``domain.ledger`` inside the caller's transaction.

Every function works on an open session and never commits: services own the unit
of work. Account rows are locked in id order (``FOR UPDATE`` on PostgreSQL; SQLite
transactions are already serialised by ``BEGIN IMMEDIATE``) before balances are
read, so concurrent movements never lose an update or overdraw.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from nmrx.platform.db import locked
from nmrx.wallet.rules import (
    PLATFORM_KINDS,
    USER_KINDS,
    AccountKind,
    AccountSnapshot,
    HoldRecord,
    HoldState,
    LedgerError,
    TransferConflict,
    TransferRecord,
    TransferSpec,
    check_funds,
    hold_transition,
    may_go_negative,
    platform_account_key,
    user_account_key,
    validate_transfer,
)
from nmrx.wallet.tables import LedgerAccount, LedgerHold, LedgerTransfer


def open_user_accounts(session: Session, user_id: int) -> None:
    for kind in USER_KINDS:
        session.add(
            LedgerAccount(
                key=user_account_key(user_id, kind),
                kind=kind.value,
                user_id=user_id,
                may_go_negative=False,
                debits=0,
                credits=0,
            )
        )
    session.flush()


def open_platform_accounts(session: Session) -> None:
    existing = set(
        session.scalars(select(LedgerAccount.key).where(LedgerAccount.user_id.is_(None)))
    )
    for kind in PLATFORM_KINDS:
        key = platform_account_key(kind)
        if key not in existing:
            session.add(
                LedgerAccount(
                    key=key,
                    kind=kind.value,
                    user_id=None,
                    may_go_negative=may_go_negative(kind),
                    debits=0,
                    credits=0,
                )
            )
    session.flush()


def _lock_accounts(session: Session, keys: Sequence[str]) -> dict[str, LedgerAccount]:
    query = locked(
        select(LedgerAccount).where(LedgerAccount.key.in_(keys)).order_by(LedgerAccount.id)
    )
    rows = {a.key: a for a in session.scalars(query.execution_options(populate_existing=True))}
    missing = [k for k in keys if k not in rows]
    if missing:
        raise LedgerError(f"unknown ledger account: {', '.join(missing)}")
    return rows


def _existing_transfer(session: Session, transfer_id: str) -> LedgerTransfer | None:
    return session.scalars(select(LedgerTransfer).where(LedgerTransfer.id == transfer_id)).first()


def _as_spec(session: Session, row: LedgerTransfer) -> TransferSpec:
    keys = dict(
        session.execute(
            select(LedgerAccount.id, LedgerAccount.key).where(
                LedgerAccount.id.in_([row.debit_account_id, row.credit_account_id])
            )
        ).all()
    )
    return TransferSpec(
        id=row.id,
        debit=keys[row.debit_account_id],
        credit=keys[row.credit_account_id],
        amount=row.amount,
        code=row.code,
        hold_id=row.hold_id,
        memo=row.memo,
    )


_ADD_TO_TOTALS = (  # run on the session's connection, as Core: one executemany
    update(LedgerAccount)
    .where(LedgerAccount.id == bindparam("aid"))
    .values(
        debits=LedgerAccount.debits + bindparam("add_debits"),
        credits=LedgerAccount.credits + bindparam("add_credits"),
    )
)


def transfer(session: Session, spec: TransferSpec) -> LedgerTransfer:
    """Post one balanced transfer; retrying the same id returns the original."""
    return transfers(session, [spec])[0]


def transfers(session: Session, specs: Sequence[TransferSpec]) -> list[LedgerTransfer]:
    """Post balanced transfers in order, as many ``transfer`` calls would, in fewer statements.

    The accounts of all of them are locked at once, in id order; the ids already used are
    read in one query (each such transfer must be the same as the one asked for, and is
    returned instead of being posted again); funds are checked transfer by transfer against
    the running balances; each account's totals are then updated once, and the new rows
    inserted together.
    """
    if not specs:
        return []
    for spec in specs:
        validate_transfer(spec)
    keys = list(dict.fromkeys(k for spec in specs for k in (spec.debit, spec.credit)))
    accounts = _lock_accounts(session, keys)
    existing = {
        row.id: row
        for row in session.scalars(
            select(LedgerTransfer).where(LedgerTransfer.id.in_([spec.id for spec in specs]))
        )
    }
    balance = {key: a.credits - a.debits for key, a in accounts.items()}
    moved: dict[int, list[int]] = {}  # account id -> [debits, credits] added
    posted: dict[str, tuple[TransferSpec, LedgerTransfer]] = {}
    result: list[LedgerTransfer] = []
    for spec in specs:
        earlier = posted.get(spec.id)  # the same id twice in one call: the second is a retry
        if earlier is None and spec.id in existing:
            earlier = (_as_spec(session, existing[spec.id]), existing[spec.id])
        if earlier is not None:
            if not earlier[0].same_as(spec):
                raise TransferConflict(
                    f"transfer id {spec.id!r} was already used for another transfer"
                )
            result.append(earlier[1])
            continue
        debit, credit = accounts[spec.debit], accounts[spec.credit]
        check_funds(
            balance=balance[spec.debit],
            amount=spec.amount,
            allowed_negative=debit.may_go_negative,
            what=f"{debit.kind} account" + (f" of user {debit.user_id}" if debit.user_id else ""),
        )
        balance[spec.debit] -= spec.amount
        balance[spec.credit] += spec.amount
        moved.setdefault(debit.id, [0, 0])[0] += spec.amount
        moved.setdefault(credit.id, [0, 0])[1] += spec.amount
        row = LedgerTransfer(
            id=spec.id,
            debit_account_id=debit.id,
            credit_account_id=credit.id,
            amount=spec.amount,
            code=spec.code,
            hold_id=spec.hold_id,
            memo=spec.memo,
        )
        posted[spec.id] = (spec, row)
        result.append(row)
    if moved:  # one statement for all the accounts (they are locked: the totals are exact)
        session.connection().execute(
            _ADD_TO_TOTALS,
            [{"aid": aid, "add_debits": d, "add_credits": c} for aid, (d, c) in moved.items()],
        )
        for a in accounts.values():  # and the loaded rows say what the database now holds
            if a.id in moved:
                set_committed_value(a, "debits", a.debits + moved[a.id][0])
                set_committed_value(a, "credits", a.credits + moved[a.id][1])
    if posted:
        session.add_all([row for _, row in posted.values()])
        session.flush()
    return result


def _lock_hold(session: Session, hold_id: str) -> LedgerHold:
    query = locked(select(LedgerHold).where(LedgerHold.id == hold_id))
    hold = session.scalars(query.execution_options(populate_existing=True)).first()
    if hold is None:
        raise LedgerError(f"no such hold: {hold_id}")
    return hold


def place_hold(
    session: Session, *, hold_id: str, user_id: int, amount: int, purpose: str
) -> LedgerHold:
    """Reserve ``amount`` of the user's available funds (idempotent on ``hold_id``)."""
    existing = session.get(LedgerHold, hold_id)
    if existing is not None:
        if (existing.user_id, existing.amount, existing.purpose) != (user_id, amount, purpose):
            raise TransferConflict(f"hold id {hold_id!r} was already used for another hold")
        return existing
    hold = LedgerHold(
        id=hold_id,
        user_id=user_id,
        amount=amount,
        remaining=amount,
        state=HoldState.PENDING.value,
        purpose=purpose,
    )
    session.add(hold)
    session.flush()
    transfer(
        session,
        TransferSpec(
            id=f"{hold_id}:place",
            debit=user_account_key(user_id, AccountKind.AVAILABLE),
            credit=user_account_key(user_id, AccountKind.HELD),
            amount=amount,
            code="hold",
            hold_id=hold_id,
        ),
    )
    return hold


def post_hold(
    session: Session, *, hold_id: str, transfer_id: str, amount: int, credit: str, code: str
) -> LedgerHold:
    """Move ``amount`` of a pending hold to ``credit``; idempotent on ``transfer_id``."""
    hold = _lock_hold(session, hold_id)
    if _existing_transfer(session, transfer_id) is not None:
        return hold
    if amount > hold.remaining:
        raise LedgerError(
            f"cannot post {amount} units of hold {hold_id}: only {hold.remaining} remain"
        )
    target = HoldState.POSTED if amount == hold.remaining else HoldState.PENDING
    hold.state = hold_transition(HoldState(hold.state), target).value
    transfer(
        session,
        TransferSpec(
            id=transfer_id,
            debit=user_account_key(hold.user_id, AccountKind.HELD),
            credit=credit,
            amount=amount,
            code=code,
            hold_id=hold_id,
        ),
    )
    hold.remaining -= amount
    session.flush()
    return hold


def void_hold(session: Session, *, hold_id: str) -> LedgerHold:
    """Return what remains of a hold to available funds; voiding twice is a no-op."""
    hold = _lock_hold(session, hold_id)
    if hold.state == HoldState.VOIDED.value:
        return hold
    hold.state = hold_transition(HoldState(hold.state), HoldState.VOIDED).value
    if hold.remaining:
        transfer(
            session,
            TransferSpec(
                id=f"{hold_id}:void",
                debit=user_account_key(hold.user_id, AccountKind.HELD),
                credit=user_account_key(hold.user_id, AccountKind.AVAILABLE),
                amount=hold.remaining,
                code="hold_void",
                hold_id=hold_id,
            ),
        )
    hold.remaining = 0
    session.flush()
    return hold


def balances(session: Session, user_id: int) -> dict[AccountKind, int]:
    rows = session.execute(
        select(LedgerAccount.kind, LedgerAccount.credits - LedgerAccount.debits).where(
            LedgerAccount.user_id == user_id
        )
    ).all()
    return {AccountKind(kind): balance for kind, balance in rows}


def totals_by_kind(session: Session) -> dict[AccountKind, int]:
    """The sum of every account's balance, by kind (all users' available, escrow, …)."""
    rows = session.execute(
        select(LedgerAccount.kind, func.sum(LedgerAccount.credits - LedgerAccount.debits)).group_by(
            LedgerAccount.kind
        )
    ).all()
    return {AccountKind(kind): int(total or 0) for kind, total in rows}


def history(session: Session, user_id: int, limit: int = 100) -> list[dict[str, object]]:
    """The user's transfers, newest first, with the signed effect on each of their accounts."""
    accounts = {
        a.id: a
        for a in session.scalars(select(LedgerAccount).where(LedgerAccount.user_id == user_id))
    }
    ids = list(accounts)
    rows = session.scalars(
        select(LedgerTransfer)
        .where(LedgerTransfer.debit_account_id.in_(ids) | LedgerTransfer.credit_account_id.in_(ids))
        .order_by(LedgerTransfer.seq.desc())
        .limit(limit)
    ).all()
    entries = []
    for row in rows:
        effect: dict[str, int] = {}
        if row.debit_account_id in accounts:
            effect[accounts[row.debit_account_id].kind] = -row.amount
        if row.credit_account_id in accounts:
            kind = accounts[row.credit_account_id].kind
            effect[kind] = effect.get(kind, 0) + row.amount
        entries.append(
            {
                "id": row.id,
                "code": row.code,
                "amount": row.amount,
                "effect": effect,
                "memo": row.memo,
                "created_at": row.created_at,
            }
        )
    return entries


def snapshot(
    session: Session,
) -> tuple[list[AccountSnapshot], list[TransferRecord], list[HoldRecord]]:
    accounts = session.scalars(select(LedgerAccount)).all()
    key_of = {a.id: a.key for a in accounts}
    snaps = [
        AccountSnapshot(
            key=a.key,
            kind=AccountKind(a.kind),
            user_id=a.user_id,
            debits=a.debits,
            credits=a.credits,
        )
        for a in accounts
    ]
    transfers = [
        TransferRecord(
            id=t_id, debit=key_of.get(d, f"#{d}"), credit=key_of.get(c, f"#{c}"), amount=amt
        )
        for t_id, d, c, amt in session.execute(
            select(
                LedgerTransfer.id,
                LedgerTransfer.debit_account_id,
                LedgerTransfer.credit_account_id,
                LedgerTransfer.amount,
            )
        )
    ]
    holds = [
        HoldRecord(
            id=h.id,
            user_id=h.user_id,
            amount=h.amount,
            remaining=h.remaining,
            state=HoldState(h.state),
        )
        for h in session.scalars(select(LedgerHold))
    ]
    return snaps, transfers, holds
