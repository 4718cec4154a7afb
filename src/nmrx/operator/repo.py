"""The operator's SQL: accounts by name, the role and suspension columns, the audit trail."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from nmrx.accounts.rules import username_key
from nmrx.accounts.tables import User
from nmrx.operator.rules import AuditFilter, user_subject
from nmrx.platform.db import locked
from nmrx.platform.tables import AuditEvent


def user_by_name(session: Session, username: str, *, lock: bool = False) -> User | None:
    query = select(User).where(User.username == username_key(username))
    return session.scalars(locked(query) if lock else query).first()


def user_by_id(session: Session, user_id: int, *, lock: bool = False) -> User | None:
    query = select(User).where(User.id == user_id)
    return session.scalars(locked(query) if lock else query).first()


def find_users(session: Session, text: str, *, limit: int) -> Sequence[User]:
    """Accounts whose username contains ``text`` (all when empty), exact match first."""
    key = username_key(text)
    query = select(User)
    if key:
        pattern = "%" + key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(User.username.like(pattern, escape="\\"))
    return session.scalars(query.order_by((User.username != key), User.username).limit(limit)).all()


def suspended_users(session: Session, *, limit: int) -> Sequence[User]:
    return session.scalars(
        select(User)
        .where(User.suspended_at.is_not(None))
        .order_by(User.suspended_at.desc())
        .limit(limit)
    ).all()


def record(session: Session, *, actor: int | None, action: str, subject: str, detail: str) -> None:
    session.add(AuditEvent(actor_user_id=actor, action=action, subject=subject, detail=detail))


def audit_events(
    session: Session, f: AuditFilter, *, limit: int
) -> list[tuple[AuditEvent, str | None]] | None:
    """Audit events matching ``f``, newest first, with the actor's username; ``None`` when a
    named actor or subject has no account (nothing can match)."""
    actor = aliased(User)
    query = select(AuditEvent, actor.username).outerjoin(
        actor, actor.id == AuditEvent.actor_user_id
    )
    if f.actor is not None:
        who = user_by_name(session, f.actor)
        if who is None:
            return None
        query = query.where(AuditEvent.actor_user_id == who.id)
    if f.subject is not None:
        about = user_by_name(session, f.subject)
        if about is None:
            return None
        query = query.where(AuditEvent.subject == user_subject(about.id))
    if f.action is not None:
        query = query.where(
            or_(AuditEvent.action == f.action, AuditEvent.action.startswith(f.action + "."))
            if not f.action.endswith(".")
            else AuditEvent.action.startswith(f.action)
        )
    if f.since is not None:
        query = query.where(AuditEvent.created_at >= f.since)
    if f.until is not None:
        query = query.where(AuditEvent.created_at < f.until)
    rows = session.execute(query.order_by(AuditEvent.id.desc()).limit(limit)).tuples()
    return [(event, actor_name) for event, actor_name in rows]


def audit_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
