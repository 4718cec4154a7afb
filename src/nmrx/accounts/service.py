"""Use cases for accounts: register, authenticate, personal API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nmrx.accounts.passwords import DUMMY_HASH, hash_password, verify_password
from nmrx.accounts.rules import (
    AccountError,
    Scope,
    check_password_strength,
    normalise_username,
    parse_scopes,
    username_key,
)
from nmrx.accounts.tables import ApiToken, User
from nmrx.platform.clock import Clock
from nmrx.platform.db import Database
from nmrx.platform.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from nmrx.platform.tables import AuditEvent
from nmrx.wallet import repo as ledger_db

TOKEN_PREFIX = "nmrx_"
USE_STAMP = timedelta(minutes=5)  # how often "last used" is written


@dataclass(frozen=True)
class Principal:
    """Who is calling, and with which scopes (all scopes for a browser session)."""

    user_id: int
    username: str
    scopes: frozenset[Scope]

    def require(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this token lacks the '{scope.value}' scope")


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _audit(
    session: Session, actor: int | None, action: str, subject: str, detail: str = ""
) -> None:
    session.add(AuditEvent(actor_user_id=actor, action=action, subject=subject, detail=detail))


def register(db: Database, *, username: str, password: str) -> Principal:
    try:
        name = normalise_username(username)
        check_password_strength(password, username=name)
    except AccountError as exc:
        raise InvalidInput(str(exc)) from exc
    password_hash = hash_password(password)
    try:
        with db.transaction() as session:
            if session.scalars(select(User.id).where(User.username == name)).first():
                raise Conflict(f"the username '{name}' is already taken")
            user = User(username=name, password_hash=password_hash)
            session.add(user)
            session.flush()
            ledger_db.open_user_accounts(session, user.id)
            _audit(session, user.id, "user.register", f"user:{user.id}")
            return Principal(user.id, user.username, frozenset(Scope))
    except IntegrityError as exc:
        raise Conflict(f"the username '{name}' is already taken") from exc


def authenticate(db: Database, *, username: str, password: str) -> Principal:
    with db.transaction() as session:
        user = session.scalars(select(User).where(User.username == username_key(username))).first()
        if user is None:
            verify_password(DUMMY_HASH, password or "")
            raise Unauthorized("wrong username or password")
        if not verify_password(user.password_hash, password or ""):
            raise Unauthorized("wrong username or password")
        ensure_active(session, user.id, "it cannot log in")
        return Principal(user.id, user.username, frozenset(Scope))


def ensure_active(session: Session, user_id: int, consequence: str) -> None:
    """Refuse (403) what a suspended account asks for; ``consequence`` says what it loses."""
    user = session.get(User, user_id)
    if user is not None and user.suspended_at is not None:
        raise Forbidden(f"this account is suspended by the operator: {consequence}")


def is_suspended(db: Database, user_id: int) -> bool:
    with db.transaction() as session:
        user = session.get(User, user_id)
        return user is not None and user.suspended_at is not None


def principal_for_user(db: Database, user_id: int) -> Principal | None:
    with db.transaction() as session:
        user = session.get(User, user_id)
        return Principal(user.id, user.username, frozenset(Scope)) if user else None


def create_token(
    db: Database, *, user_id: int, name: str, scopes: list[str] | str
) -> tuple[str, TokenInfo]:
    """Returns the token in clear (shown once) and its stored description."""
    try:
        parsed = parse_scopes(scopes)
    except AccountError as exc:
        raise InvalidInput(str(exc)) from exc
    label = (name or "").strip()
    if not 1 <= len(label) <= 80:
        raise InvalidInput("a token needs a name of 1 to 80 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.transaction() as session:
        row = ApiToken(
            user_id=user_id,
            name=label,
            prefix=token[: len(TOKEN_PREFIX) + 6],
            token_hash=_hash_token(token),
            scopes=" ".join(sorted(s.value for s in parsed)),
        )
        session.add(row)
        session.flush()
        _audit(session, user_id, "token.create", f"token:{row.id}", row.scopes)
        return token, _info(row)


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=row.scopes.split(),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def list_tokens(db: Database, *, user_id: int) -> list[TokenInfo]:
    with db.transaction() as session:
        rows = session.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
        ).all()
        return [_info(r) for r in rows]


def revoke_token(db: Database, *, user_id: int, token_id: int, now: datetime) -> TokenInfo:
    with db.transaction() as session:
        row = session.get(ApiToken, token_id)
        if row is None or row.user_id != user_id:
            raise NotFound(f"no token {token_id} on your account")
        if row.revoked_at is None:
            row.revoked_at = now
            _audit(session, user_id, "token.revoke", f"token:{row.id}")
        return _info(row)


def principal_for_token(db: Database, token: str, *, clock: Clock) -> Principal:
    if not token or not token.startswith(TOKEN_PREFIX):
        raise Unauthorized("missing or malformed API token")
    with db.transaction() as session:
        row = session.scalars(
            select(ApiToken).where(ApiToken.token_hash == _hash_token(token))
        ).first()
        if row is None or not secrets.compare_digest(row.token_hash, _hash_token(token)):
            raise Unauthorized("invalid API token")
        if row.revoked_at is not None:
            raise Unauthorized("this API token was revoked")
        user = session.get(User, row.user_id)
        assert user is not None
        ensure_active(session, user.id, "its API tokens do not work")
        now = clock.now()
        last = row.last_used_at
        if last is None or now - last > USE_STAMP:
            row.last_used_at = now
        return Principal(user.id, user.username, frozenset(Scope(s) for s in row.scopes.split()))
