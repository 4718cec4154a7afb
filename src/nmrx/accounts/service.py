"""Use cases for accounts: register, authenticate, personal API tokens, browser sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nmrx.accounts.passwords import DUMMY_HASH, hash_password, needs_rehash, verify_password
from nmrx.accounts.rules import (
    MAX_PASSWORD_LENGTH,
    AccountError,
    Scope,
    check_password_strength,
    login_token_scopes,
    may_mint,
    may_revoke,
    normalise_username,
    parse_scopes,
    username_key,
)
from nmrx.accounts.tables import ApiToken, User, WebSession
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
    token_id: int | None = None  # the API token calling; None for a password or a session

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
    """Check a username and password. The argon2 check (tens of ms, by design) runs outside
    any write transaction, so a storm of bad logins never holds up other users' writes."""
    password = password or ""
    if len(password) > MAX_PASSWORD_LENGTH:
        # refused before hashing: no valid password is this long
        raise Unauthorized(
            f"wrong username or password (passwords are at most {MAX_PASSWORD_LENGTH} characters)"
        )
    with db.read() as session:
        user = session.scalars(select(User).where(User.username == username_key(username))).first()
        found = (
            (user.id, user.username, user.password_hash, user.suspended_at is not None)
            if user
            else None
        )
    if found is None:
        verify_password(DUMMY_HASH, password)
        raise Unauthorized("wrong username or password")
    user_id, name, stored_hash, suspended = found
    if not verify_password(stored_hash, password):
        raise Unauthorized("wrong username or password")
    if suspended:
        raise Forbidden("this account is suspended by the operator: it cannot log in")
    if needs_rehash(stored_hash):
        # hashed outside the transaction; the write is short and only replaces the hash it read
        fresh = hash_password(password)
        with db.transaction() as session:
            row = session.get(User, user_id)
            if row is not None and row.password_hash == stored_hash:
                row.password_hash = fresh
    return Principal(user_id, name, frozenset(Scope))


def ensure_active(session: Session, user_id: int, consequence: str) -> None:
    """Refuse (403) what a suspended account asks for; ``consequence`` says what it loses."""
    user = session.get(User, user_id)
    if user is not None and user.suspended_at is not None:
        raise Forbidden(f"this account is suspended by the operator: {consequence}")


def is_suspended(db: Database, user_id: int) -> bool:
    with db.read() as session:
        user = session.get(User, user_id)
        return user is not None and user.suspended_at is not None


def principal_for_user(db: Database, user_id: int) -> Principal | None:
    with db.transaction() as session:
        user = session.get(User, user_id)
        return Principal(user.id, user.username, frozenset(Scope)) if user else None


def create_token(
    db: Database,
    *,
    user_id: int,
    name: str,
    scopes: list[str] | str,
    parent: Principal | None = None,
    password_login: bool = False,
) -> tuple[str, TokenInfo]:
    """Returns the token in clear (shown once) and its stored description. ``parent``: the
    token minting it, whose scopes bound the new one's; ``password_login``: minted by a
    password (a full login's token may manage tokens)."""
    try:
        parsed = parse_scopes(scopes)
    except AccountError as exc:
        raise InvalidInput(str(exc)) from exc
    if parent is not None:
        refused = may_mint(parent.scopes, parsed)
        if refused:
            raise Forbidden(refused)
    if password_login:
        parsed = login_token_scopes(parsed)
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


def revoke_token(
    db: Database,
    *,
    user_id: int,
    token_id: int,
    now: datetime,
    caller: Principal | None = None,
) -> TokenInfo:
    """``caller``: the token asking (None: a browser session), which needs the ``tokens``
    scope unless it revokes itself."""
    with db.transaction() as session:
        row = session.get(ApiToken, token_id)
        if row is None or row.user_id != user_id:
            raise NotFound(f"no token {token_id} on your account")
        if caller is not None:
            refused = may_revoke(caller.scopes, own_token=caller.token_id == row.id)
            if refused:
                raise Forbidden(refused)
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
        scopes = frozenset(Scope(s) for s in row.scopes.split())
        return Principal(user.id, user.username, scopes, token_id=row.id)


def start_session(db: Database, *, user_id: int, now: datetime, max_age_seconds: int) -> str:
    """A new browser session; returns its id (for the cookie only; stored hashed)."""
    sid = secrets.token_urlsafe(32)
    with db.transaction() as session:
        session.add(
            WebSession(
                user_id=user_id,
                token_hash=_hash_token(sid),
                created_at=now,
                expires_at=now + timedelta(seconds=max_age_seconds),
            )
        )
    return sid


def principal_for_session(db: Database, sid: str | None, *, now: datetime) -> Principal | None:
    """The user of a live browser session (all scopes); None when it ended or expired."""
    if not sid:
        return None
    with db.transaction() as session:
        row = session.scalars(
            select(WebSession).where(WebSession.token_hash == _hash_token(sid))
        ).first()
        if row is None or row.ended_at is not None or row.expires_at <= now:
            return None
        user = session.get(User, row.user_id)
        return Principal(user.id, user.username, frozenset(Scope)) if user else None


def end_session(db: Database, sid: str | None, *, now: datetime) -> None:
    if not sid:
        return
    with db.transaction() as session:
        session.execute(
            update(WebSession)
            .where(WebSession.token_hash == _hash_token(sid), WebSession.ended_at.is_(None))
            .values(ended_at=now)
        )


def end_all_sessions(db: Database, *, user_id: int, now: datetime) -> int:
    """Log out everywhere: ends every live browser session of the user; returns how many."""
    with db.transaction() as session:
        result = session.execute(
            update(WebSession)
            .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
            .values(ended_at=now)
        )
        ended = int(getattr(result, "rowcount", 0) or 0)
        _audit(session, user_id, "session.end_all", f"user:{user_id}", str(ended))
        return ended
