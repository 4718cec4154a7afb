"""Seller webhooks: register a URL, get a signing secret; events are queued in the caller's
transaction and sent by the worker, retried with backoff, every attempt recorded."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from nmrx.delivery import webhook_sender as http_hooks
from nmrx.delivery.tables import SellerWebhook, WebhookCall
from nmrx.platform.bootstrap import Container
from nmrx.platform.errors import InvalidInput, NotFound

BACKOFF = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
)
MAX_ATTEMPTS = len(BACKOFF) + 1


@dataclass(frozen=True)
class WebhookInfo:
    url: str
    # The seller's verification secret: in full only in the answer that created or rotated
    # it, masked (``mask_secret``) everywhere after, so a read-only token cannot learn it.
    secret: str
    created_at: datetime


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def mask_secret(secret: str) -> str:
    """Enough to tell which secret is in use, not enough to sign with it."""
    return f"whsec_…{secret[-4:]}"


@dataclass(frozen=True)
class CallInfo:
    id: int
    event: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime


def _assoc(user_id: int) -> str:
    return f"user:{user_id}:webhook"


def _policy(c: Container) -> dict[str, bool]:
    """http:// only in demo mode (or with private targets allowed); private targets only with
    ``NMRX_WEBHOOK_ALLOW_PRIVATE`` (a receiver on the operator's own machine)."""
    allow_private = c.settings.webhook_allow_private
    return {"allow_http": c.settings.demo or allow_private, "allow_private": allow_private}


def set_webhook(c: Container, *, user_id: int, url: str) -> WebhookInfo:
    url = (url or "").strip()
    if len(url) > 500:
        raise InvalidInput("the webhook URL must be at most 500 characters")
    try:  # resolved and checked before the transaction (DNS is slow work)
        http_hooks.check_target(url, **_policy(c))
    except http_hooks.UnsafeTarget as exc:
        raise InvalidInput(str(exc)) from exc
    with c.db.transaction() as session:
        row = session.scalars(select(SellerWebhook).where(SellerWebhook.user_id == user_id)).first()
        created = row is None
        if row is None:
            secret = new_secret()
            row = SellerWebhook(
                user_id=user_id,
                url=url,
                secret_ciphertext=c.key_box.encrypt_text(secret, associated=_assoc(user_id)),
            )
            session.add(row)
        row.url = url
        row.updated_at = c.clock.now()
        session.flush()
        return _webhook_info(c, row, reveal=created)


def rotate_secret(c: Container, *, user_id: int) -> WebhookInfo:
    """A new signing secret, shown in full this once; the old one signs nothing more."""
    with c.db.transaction() as session:
        row = session.scalars(select(SellerWebhook).where(SellerWebhook.user_id == user_id)).first()
        if row is None:
            raise NotFound("you have no webhook")
        row.secret_ciphertext = c.key_box.encrypt_text(new_secret(), associated=_assoc(user_id))
        row.updated_at = c.clock.now()
        return _webhook_info(c, row, reveal=True)


def get_webhook(c: Container, *, user_id: int) -> WebhookInfo | None:
    """The webhook, its secret masked."""
    with c.db.transaction() as session:
        row = session.scalars(select(SellerWebhook).where(SellerWebhook.user_id == user_id)).first()
        return None if row is None else _webhook_info(c, row, reveal=False)


def _webhook_info(c: Container, row: SellerWebhook, *, reveal: bool) -> WebhookInfo:
    secret = c.key_box.decrypt_text(row.secret_ciphertext, associated=_assoc(row.user_id))
    return WebhookInfo(row.url, secret if reveal else mask_secret(secret), row.created_at)


def delete_webhook(c: Container, *, user_id: int) -> None:
    with c.db.transaction() as session:
        row = session.scalars(select(SellerWebhook).where(SellerWebhook.user_id == user_id)).first()
        if row is None:
            raise NotFound("you have no webhook")
        for call in session.scalars(select(WebhookCall).where(WebhookCall.webhook_id == row.id)):
            session.delete(call)
        session.delete(row)


def emit(
    session: Session,
    *,
    seller_user_id: int,
    event: str,
    dedupe_key: str,
    payload: dict,
    now: datetime,
) -> None:
    """Queue an event for the seller's webhook, inside the caller's transaction (idempotent);
    it is due at ``now`` (the platform clock's)."""
    hook = session.scalars(
        select(SellerWebhook).where(SellerWebhook.user_id == seller_user_id)
    ).first()
    if hook is None:
        return
    key = f"{hook.id}:{dedupe_key}"
    if session.scalars(select(WebhookCall.id).where(WebhookCall.dedupe_key == key)).first():
        return
    body = {"event": event, **payload}
    session.add(
        WebhookCall(
            webhook_id=hook.id,
            event=event,
            dedupe_key=key,
            payload=json.dumps(body, sort_keys=True, default=str),
            next_attempt_at=now,
        )
    )


def send_due(c: Container, *, limit: int = 100) -> int:
    """Attempt every call that is due; returns how many were attempted."""
    now = c.clock.now()
    with c.db.transaction() as session:
        ids = session.scalars(
            select(WebhookCall.id)
            .where(WebhookCall.state == "pending", WebhookCall.next_attempt_at <= now)
            .order_by(WebhookCall.id)
            .limit(limit)
        ).all()
    for call_id in ids:
        send(c, call_id=call_id)
    return len(ids)


def send(c: Container, *, call_id: int) -> CallInfo:
    with c.db.transaction() as session:
        call = session.get(WebhookCall, call_id)
        if call is None:
            raise NotFound(f"no webhook call {call_id}")
        hook = session.get(SellerWebhook, call.webhook_id)
        if call.state != "pending" or hook is None:
            return _call_info(call)
        url, event, body = hook.url, call.event, call.payload.encode()
        secret = c.key_box.decrypt_text(hook.secret_ciphertext, associated=_assoc(hook.user_id))
    attempt = http_hooks.post(url, secret, event, body, **_policy(c))  # checked again
    now = c.clock.now()
    with c.db.transaction() as session:
        call = session.get(WebhookCall, call_id)
        assert call is not None
        call.attempts += 1
        call.last_status, call.last_error = attempt.status, attempt.error
        if attempt.ok:
            call.state, call.delivered_at = "delivered", now
        elif call.attempts >= MAX_ATTEMPTS:
            call.state = "failed"
        else:
            call.next_attempt_at = now + BACKOFF[call.attempts - 1]
        return _call_info(call)


def _call_info(call: WebhookCall) -> CallInfo:
    return CallInfo(
        call.id,
        call.event,
        call.state,
        call.attempts,
        call.last_status,
        call.last_error,
        call.created_at,
    )


def calls(c: Container, *, user_id: int, limit: int = 50) -> list[CallInfo]:
    with c.db.transaction() as session:
        hook = session.scalars(
            select(SellerWebhook).where(SellerWebhook.user_id == user_id)
        ).first()
        if hook is None:
            return []
        rows = session.scalars(
            select(WebhookCall)
            .where(WebhookCall.webhook_id == hook.id)
            .order_by(WebhookCall.id.desc())
            .limit(limit)
        ).all()
        return [_call_info(r) for r in rows]


def rotate_secrets(c: Container) -> int:
    """Re-encrypts every webhook signing secret under the key ring's first key."""
    from nmrx.platform.rotation import rewrap_column

    return rewrap_column(c.db, c.key_box, SellerWebhook, lambda row: _assoc(row.user_id))
