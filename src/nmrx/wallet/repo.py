"""Ledger persistence: the one write path of money, inside the caller's transaction.

Every movement of money — the market's holds and fills, settlement, collateral, the
wallet — goes through :func:`transfers` and the hold functions here, as plain
statements on the transaction's DBAPI connection (:class:`nmrx.platform.sql.Sql`:
an ORM session's, or the market's session-less one). They never commit: services own
the unit of work. Each is idempotent: a transfer id or hold id used before changes
nothing (a different request under a used id raises ``TransferConflict``).

Account rows are locked in id order (``FOR UPDATE`` on PostgreSQL; SQLite
transactions are already serialised by ``BEGIN IMMEDIATE``) before balances and
used ids are read, so concurrent movements never lose an update, overdraw, or post
the same id twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from nmrx.platform.clock import record_time
from nmrx.platform.sql import Sql, on
from nmrx.wallet.rules import (
    PLATFORM_KINDS,
    USER_KINDS,
    AccountKind,
    HoldState,
    LedgerError,
    TransferConflict,
    TransferSpec,
    check_funds,
    hold_transition,
    may_go_negative,
    platform_account_key,
    user_account_key,
    validate_transfer,
)
from nmrx.wallet.tables import LedgerAccount

Target = Session | Sql  # an ORM session's transaction, or plain statements on one


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


# ------------------------------------------------------------------ the write path

_ADD_TO_TOTALS = (
    "UPDATE ledger_accounts SET debits = debits + :d, credits = credits + :c WHERE id = :id"
)
_INSERT_TRANSFER = (
    "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, code, "
    "hold_id, memo, created_at) VALUES (:id, :d, :c, :a, :code, :h, :memo, :t)"
)


def _marks(prefix: str, values: Sequence[str]) -> tuple[str, dict[str, str]]:
    return (
        ", ".join(f":{prefix}{i}" for i in range(len(values))),
        {f"{prefix}{i}": v for i, v in enumerate(values)},
    )


def _lock_accounts(sql: Sql, keys: Sequence[str]) -> dict[str, tuple]:
    """key → (id, debits, credits, may_go_negative, kind, user_id), locked in id order."""
    wanted = sorted(set(keys))
    marks, params = _marks("k", wanted)
    rows = sql.all(
        "SELECT key, id, debits, credits, may_go_negative, kind, user_id FROM ledger_accounts "
        f"WHERE key IN ({marks}) ORDER BY id{sql.lock}",
        params,
    )
    found = {r[0]: r[1:] for r in rows}
    missing = [k for k in wanted if k not in found]
    if missing:
        raise LedgerError(f"unknown ledger account: {', '.join(missing)}")
    return found


def lock_accounts(target: Target, keys: Sequence[str]) -> None:
    """Lock accounts (in id order, as a transfer does) before reading figures that decide
    a transfer from them, so two such decisions run one after the other."""
    _lock_accounts(on(target), keys)


def _used(sql: Sql, ids: Sequence[str]) -> dict[str, TransferSpec]:
    """The transfers already posted under any of ``ids``, as they were asked for."""
    marks, params = _marks("t", list(dict.fromkeys(ids)))
    rows = sql.all(
        "SELECT t.id, d.key, c.key, t.amount, t.code, t.hold_id, t.memo FROM ledger_transfers t "
        "JOIN ledger_accounts d ON d.id = t.debit_account_id "
        f"JOIN ledger_accounts c ON c.id = t.credit_account_id WHERE t.id IN ({marks})",
        params,
    )
    return {r[0]: TransferSpec(*r) for r in rows}


def transfer(target: Target, spec: TransferSpec, now: datetime | None = None) -> None:
    """Post one balanced transfer; retrying the same id changes nothing."""
    transfers(target, [spec], now)


def transfers(target: Target, specs: Sequence[TransferSpec], now: datetime | None = None) -> None:
    """Post balanced transfers in order, as many ``transfer`` calls would, in few statements.

    The accounts of all of them are locked at once, in id order; the ids already used are
    then read in one query (each such transfer must be the same as the one asked for, and
    is not posted again); funds are checked transfer by transfer against the running
    balances; each account's totals are updated once, and the new rows inserted together.
    """
    if specs:
        _post(on(target), specs, record_time(now), fresh=False)


def _post(sql: Sql, specs: Sequence[TransferSpec], now: datetime, *, fresh: bool) -> None:
    """``fresh``: the caller knows no id was used (a hold's own transfers, checked by the
    hold's state under its lock), so the look-up of used ids is skipped."""
    for spec in specs:
        validate_transfer(spec)
    accounts = _lock_accounts(sql, [k for spec in specs for k in (spec.debit, spec.credit)])
    used = {} if fresh else _used(sql, [spec.id for spec in specs])
    balance = {key: a[2] - a[1] for key, a in accounts.items()}
    moved: dict[int, list[int]] = {}  # account id -> [debits, credits] added
    rows: list[dict[str, object]] = []
    for spec in specs:
        earlier = used.get(spec.id)
        if earlier is not None:
            if not earlier.same_as(spec):
                raise TransferConflict(
                    f"transfer id {spec.id!r} was already used for another transfer"
                )
            continue
        debit_id, _, _, negative, kind, user_id = accounts[spec.debit]
        credit_id = accounts[spec.credit][0]
        check_funds(
            balance=balance[spec.debit],
            amount=spec.amount,
            allowed_negative=bool(negative),
            # words for the user: no internal ids ("available account of user 1")
            what=f"{kind} balance" if user_id else f"exchange's {kind} account",
        )
        balance[spec.debit] -= spec.amount
        balance[spec.credit] += spec.amount
        moved.setdefault(debit_id, [0, 0])[0] += spec.amount
        moved.setdefault(credit_id, [0, 0])[1] += spec.amount
        used[spec.id] = spec  # the same id twice in one call: the second is a retry
        rows.append(
            {
                "id": spec.id,
                "d": debit_id,
                "c": credit_id,
                "a": spec.amount,
                "code": spec.code,
                "h": spec.hold_id,
                "memo": spec.memo,
                "t": sql.time(now),
            }
        )
    if moved:  # the accounts are locked: the totals are exact
        sql.many(_ADD_TO_TOTALS, [{"id": a, "d": d, "c": c} for a, (d, c) in moved.items()])
        sql.many(_INSERT_TRANSFER, rows)


def _lock_hold(sql: Sql, hold_id: str) -> tuple[int, int, str]:
    """(user id, remaining, state) of a hold, locked."""
    row = sql.one(
        f"SELECT user_id, remaining, state FROM ledger_holds WHERE id = :id{sql.lock}",
        {"id": hold_id},
    )
    if row is None:
        raise LedgerError(f"no such hold: {hold_id}")
    return row[0], row[1], row[2]


def _set_hold(sql: Sql, hold_id: str, remaining: int, state: str, now: datetime) -> None:
    sql.run(
        "UPDATE ledger_holds SET remaining = :r, state = :s, updated_at = :t WHERE id = :id",
        {"r": remaining, "s": state, "t": sql.time(now), "id": hold_id},
    )


def place_hold(
    target: Target,
    *,
    hold_id: str,
    user_id: int,
    amount: int,
    purpose: str,
    now: datetime | None = None,
) -> None:
    """Reserve ``amount`` of the user's available funds (idempotent on ``hold_id``).
    Raises ``InsufficientFunds`` if they are not there (the caller then rolls back)."""
    sql, now = on(target), record_time(now)
    place = TransferSpec(
        id=f"{hold_id}:place",
        debit=user_account_key(user_id, AccountKind.AVAILABLE),
        credit=user_account_key(user_id, AccountKind.HELD),
        amount=amount,
        code="hold",
        hold_id=hold_id,
    )
    validate_transfer(place)  # before the hold's row: a refused hold writes nothing
    sql.run(
        "INSERT INTO ledger_holds (id, user_id, amount, remaining, state, purpose, "
        "created_at, updated_at) VALUES (:id, :u, :a, :a, :s, :p, :t, :t) "
        "ON CONFLICT (id) DO NOTHING",
        {
            "id": hold_id,
            "u": user_id,
            "a": amount,
            "s": HoldState.PENDING.value,
            "p": purpose,
            "t": sql.time(now),
        },
    )
    if sql.cursor.rowcount == 0:  # the hold id was used: a retry, or a conflict
        existing = sql.one(
            "SELECT user_id, amount, purpose FROM ledger_holds WHERE id = :id", {"id": hold_id}
        )
        if existing is None or tuple(existing) != (user_id, amount, purpose):
            raise TransferConflict(f"hold id {hold_id!r} was already used for another hold")
        return
    _post(sql, [place], now, fresh=True)  # a new hold: its place transfer is new too


def post_hold(
    target: Target,
    *,
    hold_id: str,
    transfer_id: str,
    amount: int,
    credit: str,
    code: str,
    now: datetime | None = None,
) -> None:
    """Move ``amount`` of a pending hold to ``credit``; idempotent on ``transfer_id``."""
    post_hold_legs(target, hold_id=hold_id, legs=[(transfer_id, amount, credit, code)], now=now)


def post_hold_legs(
    target: Target,
    *,
    hold_id: str,
    legs: Sequence[tuple[str, int, str, str]],
    now: datetime | None = None,
) -> None:
    """Move parts of a pending hold, each leg ``(transfer id, amount, credit, code)``, as
    that many ``post_hold`` calls would (a leg whose transfer id was used is skipped)."""
    sql, now = on(target), record_time(now)
    user_id, remaining, state = _lock_hold(sql, hold_id)
    marks, params = _marks("t", [leg[0] for leg in legs])
    used = {r[0] for r in sql.all(f"SELECT id FROM ledger_transfers WHERE id IN ({marks})", params)}
    held = user_account_key(user_id, AccountKind.HELD)
    specs = [
        TransferSpec(id=t, debit=held, credit=credit, amount=amount, code=code, hold_id=hold_id)
        for t, amount, credit, code in legs
        if t not in used
    ]
    if not specs:
        return
    amount = sum(spec.amount for spec in specs)
    if amount > remaining:
        raise LedgerError(f"cannot post {amount} units of hold {hold_id}: only {remaining} remain")
    target_state = HoldState.POSTED if amount == remaining else HoldState.PENDING
    new_state = hold_transition(HoldState(state), target_state).value
    _post(sql, specs, now, fresh=True)
    _set_hold(sql, hold_id, remaining - amount, new_state, now)


def void_hold(target: Target, *, hold_id: str, now: datetime | None = None) -> None:
    """Return what remains of a hold to available funds; voiding twice is a no-op."""
    sql, now = on(target), record_time(now)
    user_id, remaining, state = _lock_hold(sql, hold_id)
    if state == HoldState.VOIDED.value:
        return
    new_state = hold_transition(HoldState(state), HoldState.VOIDED).value
    if remaining:  # a hold is voided once (its state says so): its void transfer is new
        spec = TransferSpec(
            id=f"{hold_id}:void",
            debit=user_account_key(user_id, AccountKind.HELD),
            credit=user_account_key(user_id, AccountKind.AVAILABLE),
            amount=remaining,
            code="hold_void",
            hold_id=hold_id,
        )
        _post(sql, [spec], now, fresh=True)
    _set_hold(sql, hold_id, 0, new_state, now)


# ------------------------------------------------------------------ reads


BALANCE_OF_KEY = "(SELECT credits - debits FROM ledger_accounts WHERE key = :key)"
"""An account's balance as a scalar subquery (parameter ``key``), for other features'
statements that need it beside their own figures in one round trip."""


def balance(target: Target, key: str) -> int:
    """One account's balance (0 if there is no such account)."""
    row = on(target).one("SELECT credits - debits FROM ledger_accounts WHERE key = :k", {"k": key})
    return 0 if row is None or row[0] is None else int(row[0])


def balances(session: Session, user_id: int) -> dict[AccountKind, int]:
    rows = session.execute(
        select(LedgerAccount.kind, LedgerAccount.credits - LedgerAccount.debits).where(
            LedgerAccount.user_id == user_id
        )
    ).all()
    return {AccountKind(kind): balance for kind, balance in rows}
