"""Numerai API keys of any user: validated with Numerai, encrypted at rest, write-only.

Adding a key reads the key's account through the gateway (it needs ``read_user_info``),
stores the secret encrypted and bound to its owner, records the scopes Numerai reports,
and verifies every model of that Numerai account for the user at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from nmrx.platform.bootstrap import Container
from nmrx.platform.crypto import SecretBox
from nmrx.platform.errors import InvalidInput, NotFound, Unavailable
from nmrx.platform.numerai import (
    NumeraiAuthError,
    NumeraiError,
    NumeraiKey,
    NumeraiPermissionError,
    NumeraiUnavailable,
)
from nmrx.platform.rotation import rewrap_column
from nmrx.platform.tables import AuditEvent
from nmrx.sellers import ownership
from nmrx.sellers.rules import key_warnings, numerai_key_problem
from nmrx.sellers.tables import NumeraiApiKey, NumeraiModel


@dataclass(frozen=True)
class KeyInfo:
    id: int
    public_id: str
    numerai_username: str
    scopes: list[str]
    models: list[str]
    created_at: datetime
    updated_at: datetime
    warnings: list[str]


def _associated(user_id: int, public_id: str) -> str:
    return f"user:{user_id}:numerai-key:{public_id}"


def _info(session: Session, row: NumeraiApiKey) -> KeyInfo:
    models = session.scalars(
        select(NumeraiModel.name)
        .where(NumeraiModel.api_key_id == row.id)
        .order_by(NumeraiModel.name)
    ).all()
    return KeyInfo(
        id=row.id,
        public_id=row.public_id,
        numerai_username=row.numerai_username,
        scopes=row.scopes.split(),
        models=list(models),
        created_at=row.created_at,
        updated_at=row.updated_at,
        warnings=key_warnings(row.scopes.split()),
    )


def add_key(c: Container, *, user_id: int, public_id: str, secret: str) -> KeyInfo:
    """Add (or replace) a key; refuses a key Numerai does not accept, and changes nothing then."""
    public_id, secret = (public_id or "").strip(), (secret or "").strip()
    problem = numerai_key_problem(public_id, secret)
    if problem:
        raise InvalidInput(problem)
    key = NumeraiKey(public_id, secret)
    try:
        account = c.numerai.account(key)
    except NumeraiAuthError as exc:
        raise InvalidInput(f"Numerai does not accept this API key ({exc.message})") from None
    except NumeraiPermissionError:
        raise InvalidInput(
            "this API key lacks the 'read_user_info' scope, which NMRX needs to read your models; "
            "create a key with it on numer.ai"
        ) from None
    except NumeraiUnavailable:
        raise Unavailable(
            "Numerai is unavailable right now; nothing was saved, try again later"
        ) from None
    except NumeraiError as exc:
        raise InvalidInput(f"Numerai refused the request: {exc.message}") from None
    ciphertext = c.key_box.encrypt_text(secret, associated=_associated(user_id, public_id))
    with c.db.transaction() as session:
        row = session.scalars(
            select(NumeraiApiKey).where(
                NumeraiApiKey.user_id == user_id, NumeraiApiKey.public_id == public_id
            )
        ).first()
        if row is None:
            row = NumeraiApiKey(user_id=user_id, public_id=public_id)
            session.add(row)
        row.secret_ciphertext = ciphertext
        row.numerai_username = account.username
        row.scopes = " ".join(sorted(account.scopes))
        row.updated_at = c.clock.now()
        session.flush()
        for model in account.models:
            ownership.bind_model(
                c, session, user_id=user_id, ref=model, via="api_key", api_key_id=row.id
            )
        session.add(
            AuditEvent(
                actor_user_id=user_id,
                action="numerai_key.add",
                subject=f"numerai_key:{row.id}",
                detail=public_id,
            )
        )
        return _info(session, row)


def list_keys(c: Container, *, user_id: int) -> list[KeyInfo]:
    with c.db.transaction() as session:
        rows = session.scalars(
            select(NumeraiApiKey).where(NumeraiApiKey.user_id == user_id).order_by(NumeraiApiKey.id)
        ).all()
        return [_info(session, r) for r in rows]


def delete_key(c: Container, *, user_id: int, key_id: int) -> None:
    with c.db.transaction() as session:
        row = session.get(NumeraiApiKey, key_id)
        if row is None or row.user_id != user_id:
            raise NotFound(f"no Numerai key {key_id} on your account")
        for model in session.scalars(select(NumeraiModel).where(NumeraiModel.api_key_id == row.id)):
            model.api_key_id = None
        session.delete(row)
        session.add(
            AuditEvent(
                actor_user_id=user_id, action="numerai_key.delete", subject=f"numerai_key:{key_id}"
            )
        )


def key_for_model(
    c: Container, session: Session, *, user_id: int, numerai_model_id: str
) -> NumeraiKey | None:
    """The decrypted key that reaches one of the user's models (internal use only)."""
    model = session.scalars(
        select(NumeraiModel).where(NumeraiModel.numerai_id == numerai_model_id)
    ).first()
    if model is None or model.owner_user_id != user_id or model.api_key_id is None:
        return None
    row = session.get(NumeraiApiKey, model.api_key_id)
    if row is None or row.user_id != user_id:
        return None
    return NumeraiKey(row.public_id, decrypt_secret(c.key_box, row))


def decrypt_secret(box: SecretBox, row: NumeraiApiKey) -> str:
    return box.decrypt_text(
        row.secret_ciphertext, associated=_associated(row.user_id, row.public_id)
    )


def rotate_secrets(c: Container) -> int:
    """Re-encrypts every stored Numerai secret under the key ring's first key."""
    return rewrap_column(
        c.db, c.key_box, NumeraiApiKey, lambda row: _associated(row.user_id, row.public_id)
    )
