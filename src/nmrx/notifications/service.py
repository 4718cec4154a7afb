"""Notifications: what needs doing before which deadline, and what happened, computed from
the exchange's own records (sales, uploads, deliveries, settlements) — nothing to keep in sync."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from nmrx.delivery import uploads
from nmrx.delivery.rules import upload_deadline
from nmrx.delivery.tables import Delivery
from nmrx.market.tables import Fill, Instrument
from nmrx.platform.bootstrap import Container
from nmrx.sellers.tables import NumeraiModel
from nmrx.settlement.tables import FillEvent
from nmrx.wallet.money import format_nmr


@dataclass(frozen=True)
class Notification:
    kind: str  # action | sale | delivery | settlement
    title: str
    body: str
    at: datetime
    deadline: datetime | None = None
    link: str | None = None


def for_user(c: Container, *, user_id: int, limit: int = 50) -> list[Notification]:
    now = c.clock.now()
    margin_minutes = c.settings.upload_margin_minutes
    items: list[Notification] = []
    with c.db.transaction() as session:
        sales = session.execute(
            select(Fill, Instrument, NumeraiModel)
            .join(Instrument, Fill.instrument_id == Instrument.id)
            .join(NumeraiModel, Instrument.model_id == NumeraiModel.id)
            .where(Fill.seller_user_id == user_id)
            .order_by(Fill.id.desc())
            .limit(500)
        ).all()
        due: dict[tuple[int, int], tuple[str, datetime, datetime, int]] = {}
        for fill, inst, model in sales:
            deadline = upload_deadline(inst.round_close_at, margin_minutes)
            key = (model.id, inst.round_number)
            if (
                fill.state == "pending_delivery"
                and now < deadline
                and uploads.current_upload(
                    session, model_id=model.id, round_number=inst.round_number
                )
                is None
            ):
                count = due[key][3] if key in due else 0
                due[key] = (model.name, inst.round_open_at, deadline, count + fill.quantity)
            items.append(
                Notification(
                    "sale",
                    f"Sold {fill.quantity} of {model.name} ({inst.mode}, round {inst.round_number})",
                    f"at {format_nmr(fill.price)} NMR each; {format_nmr(fill.notional)} NMR in escrow until settlement",
                    fill.created_at,
                    link=f"/fills/{fill.id}",
                )
            )
        items += _uploads_due(due, now)
        items += _settlement_news(session, user_id)
        items += _delivery_news(session, user_id)
    actions = sorted((n for n in items if n.kind == "action"), key=lambda n: n.deadline or now)
    others = sorted((n for n in items if n.kind != "action"), key=lambda n: n.at, reverse=True)
    return (actions + others)[:limit]


# (model id, round) -> (model name, uploads open at, upload deadline, units sold)
_UploadsDue = dict[tuple[int, int], tuple[str, datetime, datetime, int]]


def _uploads_due(due: _UploadsDue, now: datetime) -> list[Notification]:
    """One action per model and round whose sold units still wait for an upload."""
    items: list[Notification] = []
    for (_model, round_number), (name, opens_at, deadline, count) in due.items():
        opens = "" if now >= opens_at else f" (uploads open {opens_at:%a %d %b %H:%M} UTC)"
        items.append(
            Notification(
                "action",
                f"Upload {name}'s predictions for round {round_number}",
                f"{count} unit(s) sold; upload before {deadline:%a %d %b %H:%M} UTC or buyers are refunded with a penalty{opens}",
                now,
                deadline=deadline,
                link="/sell",
            )
        )
    return items


def _settlement_news(session: Session, user_id: int) -> list[Notification]:
    """The latest state changes of the fills the user bought or sold."""
    mine = select(Fill.id).where((Fill.buyer_user_id == user_id) | (Fill.seller_user_id == user_id))
    return [
        Notification(
            "settlement",
            f"Fill #{event.fill_id}: {event.to_state.replace('_', ' ')}",
            event.detail,
            event.at,
            link=f"/fills/{event.fill_id}",
        )
        for event in session.scalars(
            select(FillEvent)
            .where(FillEvent.fill_id.in_(mine))
            .order_by(FillEvent.id.desc())
            .limit(100)
        )
    ]


def _delivery_news(session: Session, user_id: int) -> list[Notification]:
    """The latest deliveries to the user as a buyer: delivered or failed."""
    bought = select(Fill.id).where(Fill.buyer_user_id == user_id)
    items: list[Notification] = []
    for d in session.scalars(
        select(Delivery)
        .where(Delivery.fill_id.in_(bought), Delivery.state != "waiting")
        .order_by(Delivery.id.desc())
        .limit(100)
    ):
        what = "ready to download" if d.kind == "download" else "submitted to your slot"
        title = (
            f"Fill #{d.fill_id}: file {what}"
            if d.state == "delivered"
            else f"Fill #{d.fill_id}: delivery failed"
        )
        items.append(
            Notification(
                "delivery",
                title,
                d.last_error or "",
                d.delivered_at or d.updated_at,
                link="/deliveries",
            )
        )
    return items
