"""The settlement reconciler: advances every unsettled fill through the state machine of
``domain.settlement``, exactly once per move, safe to crash and to run twice at once.

Each move is one transaction: re-read the fill under a row lock, check the state did not
change, post the ledger legs with deterministic transfer ids (``settle:<fill>:<leg>``),
write the new state and its history row. A worker killed anywhere either committed a move
in full or not at all; running again finishes the job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select, update

from nmrx.delivery import uploads
from nmrx.delivery.rules import upload_deadline
from nmrx.delivery.tables import Delivery
from nmrx.market import queries as market_queries
from nmrx.market.tables import Fill, Instrument
from nmrx.platform.bootstrap import Container
from nmrx.platform.db import locked
from nmrx.platform.events import SellerPenalised
from nmrx.platform.numerai import NumeraiError, RoundPerformance
from nmrx.platform.tables import AuditEvent
from nmrx.sellers.rules import free_collateral
from nmrx.sellers.tables import NumeraiModel
from nmrx.settlement.rules import (
    FINAL,
    Facts,
    FillState,
    Leg,
    Move,
    Terms,
    check_transition,
    decide,
    explain,
    is_ours_selected,
    is_over_staked,
    is_protected,
    money,
    reads_scores,
)
from nmrx.settlement.tables import FillEvent
from nmrx.wallet import repo as ledger_db
from nmrx.wallet.money import UNITS_PER_NMR
from nmrx.wallet.rules import AccountKind, TransferSpec, platform_account_key, user_account_key

log = logging.getLogger("nmrx.settlement")


@dataclass
class _Scores:
    """Round performances read from Numerai during one pass (None: unavailable)."""

    c: Container
    cache: dict[tuple[str, str], dict[int, RoundPerformance] | None] = field(default_factory=dict)

    def of(self, numerai_model_id: str, tournament: str) -> dict[int, RoundPerformance] | None:
        key = (numerai_model_id, tournament)
        if key not in self.cache:
            try:
                rows = self.c.numerai.round_performances(numerai_model_id, tournament)
                self.cache[key] = {p.round_number: p for p in rows}
            except NumeraiError as exc:
                log.warning("cannot read scores of %s: %s", numerai_model_id, exc.message)
                self.cache[key] = None
        return self.cache[key]


def _facts(c: Container, session, fill: Fill, now: datetime, scores: _Scores) -> Facts:
    instrument = session.get(Instrument, fill.instrument_id)
    deliveries = {
        d.kind: d for d in session.scalars(select(Delivery).where(Delivery.fill_id == fill.id))
    }
    submission = deliveries.get("submission")
    download = deliveries.get("download")
    upload = uploads.current_upload(
        session, model_id=instrument.model_id, round_number=instrument.round_number
    )
    facts = dict(
        state=FillState(fill.state),
        mode=instrument.mode,
        protected=is_protected(instrument.mode, has_slot=fill.slot_model_id is not None),
        now=now,
        upload_deadline=upload_deadline(
            instrument.round_close_at, c.settings.upload_margin_minutes
        ),
        round_close=instrument.round_close_at,
        has_upload=upload is not None,
        download_delivered=download is not None and download.state == "delivered",
        submission_state=submission.state if submission else None,
        submission_fault=submission.fault if submission else None,
    )
    if reads_scores(FillState(fill.state), now=now, round_close=instrument.round_close_at):
        slot = session.get(NumeraiModel, fill.slot_model_id)
        seller_model = session.get(NumeraiModel, instrument.model_id)
        slot_perf = scores.of(slot.numerai_id, instrument.tournament) if slot else None
        seller_perf = scores.of(seller_model.numerai_id, instrument.tournament)
        r = instrument.round_number
        if slot_perf is not None:
            mine = slot_perf.get(r)
            selected = mine.submission_id if mine else None
            facts["ours_selected"] = is_ours_selected(
                selected,
                _platform_submissions(session, fill, instrument) if selected else frozenset(),
            )
            first = mine.first_score("corr") if mine else None
            facts["slot_score"] = first.value if first else None
            if instrument.mode == "stake":
                allowance = _allowance(session, fill, instrument)
                facts["over_staked"] = is_over_staked(
                    mine.at_risk if mine else None, allowance=allowance
                )
        if seller_perf is not None:
            theirs = seller_perf.get(r)
            facts["seller_has_submission"] = theirs is not None and theirs.submission_id is not None
            first = theirs.first_score("corr") if theirs else None
            facts["seller_score"] = first.value if first else None
    return Facts(**facts)


def _platform_submissions(session, fill: Fill, instrument: Instrument) -> set[str]:
    """Every submission the platform made to this buyer's slot for the round: when a buyer
    has several protected fills on one slot, the last delivery is selected for all of them."""
    rows = session.scalars(
        select(Delivery.numerai_submission_id)
        .join(Fill, Delivery.fill_id == Fill.id)
        .join(Instrument, Fill.instrument_id == Instrument.id)
        .where(
            Fill.buyer_user_id == fill.buyer_user_id,
            Fill.slot_model_id == fill.slot_model_id,
            Instrument.round_number == instrument.round_number,
            Delivery.kind == "submission",
            Delivery.numerai_submission_id.is_not(None),
        )
    )
    return set(rows)


def _allowance(session, fill: Fill, instrument: Instrument) -> int:
    """The buyer's stake allowance on the slot for the round, in units: all their fills of it."""
    qty = session.scalar(
        select(func.coalesce(func.sum(Fill.quantity), 0))
        .join(Instrument, Fill.instrument_id == Instrument.id)
        .where(
            Fill.buyer_user_id == fill.buyer_user_id,
            Fill.slot_model_id == fill.slot_model_id,
            Instrument.round_number == instrument.round_number,
            Instrument.mode == "stake",
        )
    )
    return int(qty) * UNITS_PER_NMR


def _account(leg_end: str, fill: Fill) -> str:
    return {
        "escrow": platform_account_key(AccountKind.ESCROW),
        "fees": platform_account_key(AccountKind.FEES),
        "buyer_collateral": user_account_key(fill.buyer_user_id, AccountKind.COLLATERAL),
        "seller_collateral": user_account_key(fill.seller_user_id, AccountKind.COLLATERAL),
        "seller": user_account_key(fill.seller_user_id, AccountKind.AVAILABLE),
        "buyer": user_account_key(fill.buyer_user_id, AccountKind.AVAILABLE),
    }[leg_end]


def _transfers(fill: Fill, legs: list[Leg]) -> list[TransferSpec]:
    """A move's money legs as ledger transfers, with ids deterministic per fill and leg
    (``settle:<fill>:<leg>``) so that posting a move twice moves its money once."""
    return [
        TransferSpec(
            id=f"settle:{fill.id}:{leg.name}",
            debit=_account(leg.source, fill),
            credit=_account(leg.destination, fill),
            amount=leg.amount,
            code=leg.code,
            memo=f"fill {fill.id}: {leg.name}",
        )
        for leg in legs
    ]


def _apply(c: Container, fill_id: int, expected: FillState, move: Move, now: datetime) -> bool:
    """Commit one move, or nothing if another reconciler got there first."""
    with c.db.transaction() as session:
        query = locked(select(Fill).where(Fill.id == fill_id))
        fill = session.scalars(query.execution_options(populate_existing=True)).one()
        if fill.state != expected:
            return False
        seller_user_id = fill.seller_user_id
        check_transition(expected, move.target)
        legs: list[Leg] = []
        if move.target in FINAL:
            seller_collateral = 0  # only a penalty reads it (``money`` caps it there)
            if move.seller_fault:  # the buyer bonds of the seller back their own purchases
                seller_collateral = free_collateral(
                    ledger_db.balances(session, fill.seller_user_id).get(AccountKind.COLLATERAL, 0),
                    stake_bonds=market_queries.stake_bonds_as_buyer(session, fill.seller_user_id),
                )
            terms = Terms(
                notional=fill.notional,
                fee_rate_bp=fill.fee_rate_bp,
                buyer_collateral=fill.buyer_collateral,
                non_delivery_penalty_bp=c.settings.non_delivery_penalty_bp,
                consistency_penalty_bp=c.settings.consistency_penalty_bp,
                seller_collateral_available=seller_collateral,
            )
            legs = money(move, terms)
            ledger_db.transfers(session, _transfers(fill, legs))
        # Core statements from here: the ORM has nothing left to flush, nor to keep in step
        conn = session.connection()
        changed = conn.execute(
            update(Fill)
            .where(Fill.id == fill_id, Fill.state == expected.value)
            .values(state=move.target.value, updated_at=now)
        ).rowcount
        if changed != 1:
            raise RuntimeError(f"fill {fill_id} changed under a row lock")  # rolls everything back
        detail = explain(move, legs)
        conn.execute(
            insert(FillEvent).values(
                fill_id=fill_id,
                from_state=expected.value,
                to_state=move.target.value,
                reason=move.reason.value,
                detail=detail,
                at=now,
            )
        )
        conn.execute(
            insert(AuditEvent).values(
                actor_user_id=None,
                action=f"fill.{move.target.value}",
                subject=f"fill:{fill_id}",
                detail=detail[:500],
            )
        )
    if any(leg.source == "seller_collateral" and leg.amount for leg in legs):
        c.bus.publish(SellerPenalised(seller_user_id, now))  # its asks may be uncovered
    return True


def advance(c: Container, fill_id: int, *, scores: _Scores | None = None) -> FillState:
    """Take every move the facts allow now; returns the state reached."""
    scores = scores or _Scores(c)
    for _ in range(len(FillState)):
        now = c.clock.now()
        with c.db.transaction() as session:
            fill = session.get(Fill, fill_id)
            assert fill is not None
            state = FillState(fill.state)
            if state in FINAL:
                return state
            facts = _facts(c, session, fill, now, scores)
        move = decide(facts)
        if move is None:
            return state
        if _apply(c, fill_id, state, move, now) and move.target in FINAL:
            return move.target  # committed: nothing moves a final fill, no need to re-read it
    return state


def reconcile(c: Container, *, limit: int = 1000) -> dict[str, int]:
    """One pass over unsettled fills (the worker's duty, also triggered by events)."""
    with c.db.transaction() as session:
        ids = session.scalars(
            select(Fill.id)
            .where(Fill.state.not_in([s.value for s in FINAL]))
            .order_by(Fill.id)
            .limit(limit)
        ).all()
    scores = _Scores(c)
    reached: dict[str, int] = {}
    for fill_id in ids:
        try:
            state = advance(c, fill_id, scores=scores)
        except Exception:  # one bad fill must not stop the others; it is retried next pass
            log.exception("settling fill %s failed", fill_id)
            continue
        reached[state.value] = reached.get(state.value, 0) + 1
    return reached


@dataclass(frozen=True)
class TimelineEntry:
    state: str
    reason: str
    detail: str
    at: datetime


def timeline(c: Container, *, user_id: int, fill_id: int) -> tuple[Fill, list[TimelineEntry]]:
    """A fill's history, for its buyer or its seller only."""
    from nmrx.platform.errors import NotFound

    with c.db.transaction() as session:
        fill = session.get(Fill, fill_id)
        if fill is None or user_id not in (fill.buyer_user_id, fill.seller_user_id):
            raise NotFound(f"no fill {fill_id} of yours")
        events = session.scalars(
            select(FillEvent).where(FillEvent.fill_id == fill_id).order_by(FillEvent.id)
        ).all()
        entries = [
            TimelineEntry(
                "pending_delivery",
                "traded",
                "the trade was made; waiting for delivery",
                fill.created_at,
            )
        ]
        entries += [TimelineEntry(e.to_state, e.reason, e.detail, e.at) for e in events]
        session.expunge(fill)
        return fill, entries


@dataclass(frozen=True)
class FillSummary:
    id: int
    role: str  # buyer | seller
    model: str
    round_number: int
    mode: str
    quantity: int
    price: int
    notional: int
    state: str
    explanation: str
    created_at: datetime
    updated_at: datetime


def fills_of_user(
    c: Container, *, user_id: int, role: str | None = None, limit: int = 200
) -> list[FillSummary]:
    """The user's purchases and sales, newest first, each with the latest explanation."""
    with c.db.transaction() as session:
        query = (
            select(Fill, Instrument, NumeraiModel)
            .join(Instrument, Fill.instrument_id == Instrument.id)
            .join(NumeraiModel, Instrument.model_id == NumeraiModel.id)
        )
        if role == "buyer":
            query = query.where(Fill.buyer_user_id == user_id)
        elif role == "seller":
            query = query.where(Fill.seller_user_id == user_id)
        else:
            query = query.where((Fill.buyer_user_id == user_id) | (Fill.seller_user_id == user_id))
        rows = session.execute(query.order_by(Fill.id.desc()).limit(limit)).all()
        latest = {
            e.fill_id: e.detail
            for e in session.scalars(
                select(FillEvent)
                .where(FillEvent.fill_id.in_([f.id for f, _, _ in rows]))
                .order_by(FillEvent.id)
            )
        }
        return [
            FillSummary(
                id=f.id,
                role="buyer" if f.buyer_user_id == user_id else "seller",
                model=m.name,
                round_number=i.round_number,
                mode=i.mode,
                quantity=f.quantity,
                price=f.price,
                notional=f.notional,
                state=f.state,
                explanation=latest.get(f.id, "traded; waiting for delivery"),
                created_at=f.created_at,
                updated_at=f.updated_at,
            )
            for f, i, m in rows
        ]


@dataclass(frozen=True)
class FillChange:
    """One state change of a fill, as its buyer or seller sees it (the live stream)."""

    event_id: int
    fill_id: int
    role: str  # buyer | seller
    from_state: str | None
    state: str
    reason: str
    detail: str
    at: datetime


def _parties_of(user_id: int):
    return (Fill.buyer_user_id == user_id) | (Fill.seller_user_id == user_id)


def last_change_id(c: Container, *, user_id: int) -> int:
    """The cursor of the user's latest fill state change (0 if none): a page reads it
    before its fills, so a stream opened from it misses nothing shown as stale."""
    with c.db.transaction() as session:
        found = session.scalar(
            select(func.max(FillEvent.id))
            .join(Fill, Fill.id == FillEvent.fill_id)
            .where(_parties_of(user_id))
        )
        return int(found or 0)


def fill_changes(
    c: Container, *, user_id: int, after_id: int = 0, limit: int = 100
) -> list[FillChange]:
    """State changes of the user's fills (as buyer or seller) after the cursor, oldest
    first. Only those fills: another user's changes never appear."""
    with c.db.transaction() as session:
        rows = session.execute(
            select(FillEvent, Fill.buyer_user_id)
            .join(Fill, Fill.id == FillEvent.fill_id)
            .where(FillEvent.id > after_id, _parties_of(user_id))
            .order_by(FillEvent.id)
            .limit(limit)
        ).all()
        return [
            FillChange(
                event_id=e.id,
                fill_id=e.fill_id,
                role="buyer" if buyer == user_id else "seller",
                from_state=e.from_state,
                state=e.to_state,
                reason=e.reason,
                detail=e.detail,
                at=e.at,
            )
            for e, buyer in rows
        ]
