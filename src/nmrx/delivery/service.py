"""Delivery (market-rules §5.2): downloads for File Mode buyers, automatic submissions to
buyers' slots (Stake Mode, and File Mode with a verification slot), re-delivery when the
seller replaces the file. Each step is idempotent; a worker runs ``run_once`` periodically."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, distinct, func, select
from sqlalchemy.orm import Session

from nmrx.delivery import uploads, webhooks
from nmrx.delivery.rules import (
    PLATFORM_ERROR,
    DeliveryKind,
    DeliveryState,
    Fault,
    Outcome,
    before_attempt,
    classify_attempt,
    kinds_for,
    submission_filename,
    too_late,
)
from nmrx.delivery.tables import Delivery, PredictionUpload
from nmrx.market.tables import Fill, Instrument
from nmrx.platform.bootstrap import Container
from nmrx.platform.db import locked
from nmrx.platform.events import DeliveriesDue, UploadAccepted
from nmrx.platform.numerai import NumeraiError, NumeraiKey, SubmissionInfo
from nmrx.platform.tables import AuditEvent
from nmrx.sellers import numerai_keys
from nmrx.sellers.tables import NumeraiModel
from nmrx.settlement import service as settlement

log = logging.getLogger("nmrx.delivery")
LEASE = timedelta(minutes=2)  # a claimed submission is not picked up again for this long


@dataclass(frozen=True)
class DeliveryInfo:
    id: int
    fill_id: int
    kind: str
    state: str
    model: str
    round_number: int
    mode: str
    quantity: int
    price: int
    sha256: str | None
    numerai_submission_id: str | None
    submitted_filename: str | None
    fault: str | None
    last_error: str | None
    delivered_at: datetime | None


def _schedule(
    delivery: Delivery, upload: PredictionUpload | None, now: datetime, nonce_bytes: int
) -> None:
    """Point a delivery at the current upload; a submission starts over with a new nonce."""
    if upload is None or delivery.upload_id == upload.id:
        return
    delivery.upload_id = upload.id
    delivery.updated_at = now
    if delivery.kind == DeliveryKind.DOWNLOAD:
        delivery.state, delivery.delivered_at = DeliveryState.DELIVERED.value, now
        return
    delivery.state = DeliveryState.WAITING.value
    delivery.nonce = secrets.token_hex(nonce_bytes)
    delivery.attempts, delivery.next_attempt_at = 0, now
    delivery.fault = delivery.last_error = delivery.numerai_submission_id = (
        delivery.submitted_filename
    ) = None
    delivery.delivered_at = None


def _ensure(session: Session, fill: Fill, instrument: Instrument, now: datetime) -> list[Delivery]:
    existing = {
        d.kind: d for d in session.scalars(select(Delivery).where(Delivery.fill_id == fill.id))
    }
    if not existing:  # first sight of this sale: tell the seller
        webhooks.emit(
            session,
            seller_user_id=fill.seller_user_id,
            event="sale.created",
            dedupe_key=f"sale:{fill.id}",
            payload={
                "fill_id": fill.id,
                "model_id": instrument.model_id,
                "round": instrument.round_number,
                "mode": instrument.mode,
                "quantity": fill.quantity,
                "price_units": fill.price,
            },
            now=now,
        )
    for kind in kinds_for(instrument.mode, has_slot=fill.slot_model_id is not None):
        if kind.value not in existing:
            row = Delivery(fill_id=fill.id, kind=kind.value, state=DeliveryState.WAITING.value)
            session.add(row)
            existing[kind.value] = row
    session.flush()
    return list(existing.values())


def sync(c: Container, *, model_id: int | None = None, round_number: int | None = None) -> int:
    """Create missing deliveries and point every waiting one at the round's current upload."""
    now = c.clock.now()
    touched = 0
    with c.db.transaction() as session:
        query = select(Fill, Instrument).join(Instrument, Fill.instrument_id == Instrument.id)
        if model_id is not None:
            query = query.where(
                Instrument.model_id == model_id, Instrument.round_number == round_number
            )
        else:  # the periodic pass: fills that have no delivery yet
            query = query.where(~select(Delivery.id).where(Delivery.fill_id == Fill.id).exists())
        for fill, instrument in session.execute(query).all():
            upload = uploads.current_upload(
                session, model_id=instrument.model_id, round_number=instrument.round_number
            )
            for delivery in _ensure(session, fill, instrument, now):
                before = delivery.upload_id
                _schedule(delivery, upload, now, c.settings.delivery_nonce_bytes)
                touched += int(before != delivery.upload_id)
    return touched


def on_upload(c: Container, accepted: UploadAccepted) -> None:
    """A new file for (model, round): deliver it to every buyer, replacing an earlier one;
    then ``DeliveriesDue`` (the worker, where one listens, submits and settles)."""
    sync(c, model_id=accepted.model_id, round_number=accepted.round_number)
    c.bus.publish(DeliveriesDue(accepted.model_id, accepted.round_number))


def process_due(c: Container, *, limit: int = 200) -> int:
    now = c.clock.now()
    with c.db.transaction() as session:
        ids = session.scalars(
            select(Delivery.id)
            .where(
                Delivery.kind == DeliveryKind.SUBMISSION.value,
                Delivery.state == DeliveryState.WAITING.value,
                Delivery.upload_id.is_not(None),
                Delivery.next_attempt_at <= now,
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
        ).all()
    for delivery_id in ids:
        submit(c, delivery_id=delivery_id)
    return len(ids)


def _fail(session: Session, delivery: Delivery, fault: Fault, reason: str, now: datetime) -> None:
    delivery.state, delivery.fault, delivery.last_error = (
        DeliveryState.FAILED.value,
        fault.value,
        reason,
    )
    delivery.updated_at = now
    session.add(
        AuditEvent(
            actor_user_id=None,
            action=f"delivery.failed.{fault.value}",
            subject=f"delivery:{delivery.id}",
            detail=reason[:500],
        )
    )


def submit(c: Container, *, delivery_id: int) -> None:
    """One attempt at an automatic submission; when it decides the delivery (delivered, or
    failed for good), settlement acts on the fill at once; the periodic pass is the safety net."""
    fill_id = _attempt(c, delivery_id)
    if fill_id is not None:
        try:
            settlement.advance(c, fill_id)
        except Exception:
            log.exception(
                "settling fill %s after its delivery failed; the next pass retries", fill_id
            )


def _attempt(c: Container, delivery_id: int) -> int | None:
    """Claims the delivery so two workers never race; returns its fill's id when decided."""
    now = c.clock.now()
    with c.db.transaction() as session:
        delivery = session.scalars(
            locked(select(Delivery).where(Delivery.id == delivery_id))
        ).first()
        if (
            delivery is None
            or delivery.state != DeliveryState.WAITING
            or delivery.upload_id is None
        ):
            return None
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            return None
        claim = _claim(c, session, delivery, now)
    if not isinstance(claim, _Claim):
        return claim  # refused before any attempt: the fill's id
    return _record(c, delivery_id, claim, *_send(c, delivery_id, claim))


@dataclass(frozen=True)
class _Claim:
    """What one attempt needs once the delivery's row is released."""

    key: NumeraiKey
    attempt: int
    nonce: str
    storage_key: str
    slot_id: str
    tournament: str
    round_number: int
    fmt: str
    round_close: datetime


def _claim(c: Container, session: Session, delivery: Delivery, now: datetime) -> _Claim | int:
    """Check the attempt may go ahead and take a lease on it; else fail the delivery and
    return its fill's id."""
    fill = session.get_one(Fill, delivery.fill_id)
    instrument = session.get_one(Instrument, fill.instrument_id)
    slot = session.get(NumeraiModel, fill.slot_model_id) if fill.slot_model_id else None
    upload = session.get_one(PredictionUpload, delivery.upload_id)
    slot_is_buyers = slot is not None and slot.owner_user_id == fill.buyer_user_id
    key = None
    if slot is not None and slot_is_buyers and now < instrument.round_close_at:
        key = numerai_keys.key_for_model(
            c, session, user_id=fill.buyer_user_id, numerai_model_id=slot.numerai_id
        )
    refusal = before_attempt(
        now=now,
        round_close=instrument.round_close_at,
        slot_is_buyers=slot_is_buyers,
        has_key=key is not None,
        last_error=delivery.last_error,
    )
    if refusal is not None or key is None or slot is None:
        assert refusal is not None and refusal.fault is not None
        _fail(session, delivery, refusal.fault, refusal.reason or "", now)
        return fill.id
    delivery.attempts += 1
    delivery.next_attempt_at = now + LEASE
    return _Claim(
        key,
        delivery.attempts,
        delivery.nonce or "",
        upload.storage_key,
        slot.numerai_id,
        instrument.tournament,
        instrument.round_number,
        upload.format,
        instrument.round_close_at,
    )


def _send(
    c: Container, delivery_id: int, claim: _Claim
) -> tuple[SubmissionInfo | None, str | None, str]:
    """Upload to the buyer's slot and check ours is selected: (our submission, None, "") on
    success, else (None, the error's kind, what went wrong). No transaction is open."""
    filename = submission_filename(claim.nonce, claim.fmt)
    try:
        content = c.files.get(claim.storage_key)
        c.numerai.upload(
            claim.key,
            model_id=claim.slot_id,
            tournament=claim.tournament,
            content=content,
            filename=filename,
        )
        selected = c.numerai.selected_submission(
            claim.key,
            model_id=claim.slot_id,
            round_number=claim.round_number,
            tournament=claim.tournament,
        )
        if selected is None or claim.nonce not in selected.filename:
            raise NumeraiError("the slot's selected submission is not ours after uploading")
        return selected, None, ""
    except NumeraiError as exc:
        return None, exc.kind, f"{exc.kind}: {exc.message}"
    except Exception as exc:  # a platform error: nobody's fault, retried until the deadline
        log.exception("delivery %s failed", delivery_id)
        return None, PLATFORM_ERROR, f"platform error: {type(exc).__name__}"


def _record(
    c: Container,
    delivery_id: int,
    claim: _Claim,
    selected: SubmissionInfo | None,
    error_kind: str | None,
    detail: str,
) -> int | None:
    """Write what the attempt decided; returns the fill's id when the delivery is decided."""
    with c.db.transaction() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        if delivery.attempts != claim.attempt or delivery.state != DeliveryState.WAITING:
            return None  # re-scheduled by a newer upload meanwhile: that attempt wins
        now = c.clock.now()
        verdict = classify_attempt(
            error_kind, detail, now=now, attempts=claim.attempt, round_close=claim.round_close
        )
        if verdict.outcome is Outcome.DELIVERED and selected is not None:
            delivery.state, delivery.delivered_at = DeliveryState.DELIVERED.value, now
            delivery.numerai_submission_id = selected.id
            delivery.submitted_filename = selected.filename
            delivery.last_error = None
        elif verdict.outcome is Outcome.FAILED:
            assert verdict.fault is not None
            _fail(session, delivery, verdict.fault, verdict.reason or "", now)
        else:
            delivery.last_error, delivery.next_attempt_at = verdict.reason, verdict.retry_at
        delivery.updated_at = now
        return delivery.fill_id if delivery.state != DeliveryState.WAITING else None


def expire_overdue(c: Container) -> int:
    """Submissions still waiting when their round has closed fail as nobody's fault."""
    now = c.clock.now()
    count = 0
    with c.db.transaction() as session:
        rows = session.execute(
            select(Delivery, Instrument)
            .join(Fill, Delivery.fill_id == Fill.id)
            .join(Instrument, Fill.instrument_id == Instrument.id)
            .where(
                Delivery.kind == DeliveryKind.SUBMISSION.value,
                Delivery.state == DeliveryState.WAITING.value,
                Delivery.upload_id.is_not(None),
                Instrument.round_close_at <= now,
            )
        ).all()
        for delivery, _instrument in rows:
            _fail(session, delivery, Fault.NOBODY, too_late(delivery.last_error), now)
            count += 1
    return count


def announce_open_rounds(c: Container) -> int:
    """Tell each seller, once per round, that the open round has sales waiting for their upload."""
    now = c.clock.now()
    count = 0
    with c.db.transaction() as session:
        rows = session.execute(
            select(Fill.seller_user_id, Instrument.model_id, Instrument.round_number)
            .join(Instrument, Fill.instrument_id == Instrument.id)
            .where(Instrument.round_open_at <= now, Instrument.round_close_at > now)
            .distinct()
        ).all()
        for seller_id, model_id, round_number in rows:
            if (
                uploads.current_upload(session, model_id=model_id, round_number=round_number)
                is None
            ):
                webhooks.emit(
                    session,
                    seller_user_id=seller_id,
                    event="round.opened",
                    dedupe_key=f"round:{model_id}:{round_number}",
                    payload={
                        "model_id": model_id,
                        "round": round_number,
                        "message": "sales are waiting for your upload",
                    },
                    now=now,
                )
                count += 1
    return count


def run_once(c: Container) -> None:
    """What the worker does each tick."""
    sync(c)
    announce_open_rounds(c)
    process_due(c)
    expire_overdue(c)


def deliveries_for(
    c: Container, *, user_id: int, round_number: int | None = None
) -> list[DeliveryInfo]:
    """The buyer's deliveries (newest first): what arrived, what is waiting, what failed and why."""
    with c.db.transaction() as session:
        query = (
            select(Delivery, Fill, Instrument, NumeraiModel)
            .join(Fill, Delivery.fill_id == Fill.id)
            .join(Instrument, Fill.instrument_id == Instrument.id)
            .join(NumeraiModel, Instrument.model_id == NumeraiModel.id)
            .where(Fill.buyer_user_id == user_id)
        )
        if round_number is not None:
            query = query.where(Instrument.round_number == round_number)
        rows = session.execute(query.order_by(Delivery.id.desc()).limit(500)).all()
        result = []
        for d, f, i, m in rows:
            upload = session.get(PredictionUpload, d.upload_id) if d.upload_id else None
            result.append(
                DeliveryInfo(
                    id=d.id,
                    fill_id=f.id,
                    kind=d.kind,
                    state=d.state,
                    model=m.name,
                    round_number=i.round_number,
                    mode=i.mode,
                    quantity=f.quantity,
                    price=f.price,
                    sha256=upload.sha256 if upload else None,
                    numerai_submission_id=d.numerai_submission_id,
                    submitted_filename=d.submitted_filename,
                    fault=d.fault,
                    last_error=d.last_error,
                    delivered_at=d.delivered_at,
                )
            )
        return result


@dataclass(frozen=True)
class RoundDeliveries:
    """A seller's sales of one model and round, and where their deliveries stand."""

    model: str
    round_number: int
    buyers: int
    fills: int
    delivered: int
    waiting: int
    failed: int


def rounds_for_seller(c: Container, *, user_id: int, limit: int = 20) -> list[RoundDeliveries]:
    """Per model and round the seller sold, newest round first: how many buyers and fills,
    and their deliveries delivered, waiting (nothing uploaded yet, or a submission being
    retried) and failed. A fill with no delivery yet counts as one waiting."""

    def count(match: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((match, 1), else_=0)), 0)

    with c.db.transaction() as session:
        rows = session.execute(
            select(
                NumeraiModel.name,
                Instrument.round_number,
                func.count(distinct(Fill.buyer_user_id)),
                func.count(distinct(Fill.id)),
                count(Delivery.state == DeliveryState.DELIVERED),
                count(Delivery.state.is_(None) | (Delivery.state == DeliveryState.WAITING)),
                count(Delivery.state == DeliveryState.FAILED),
            )
            .join(Instrument, Fill.instrument_id == Instrument.id)
            .join(NumeraiModel, Instrument.model_id == NumeraiModel.id)
            .outerjoin(Delivery, Delivery.fill_id == Fill.id)
            .where(Fill.seller_user_id == user_id)
            .group_by(NumeraiModel.name, Instrument.round_number)
            .order_by(Instrument.round_number.desc(), NumeraiModel.name)
            .limit(limit)
        ).all()
    return [RoundDeliveries(model, *(int(n) for n in counts)) for model, *counts in rows]
