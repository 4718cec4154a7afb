"""JSON API of accounts: registration, the caller's identity and personal API tokens.
Parse, call a service, serialise; no rules here."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from nmrx.accounts import service as accounts
from nmrx.accounts.rules import Scope
from nmrx.accounts.service import Principal
from nmrx.platform import rate_limit
from nmrx.platform.api_deps import container, principal, require
from nmrx.platform.bounds import Int64

router = APIRouter(prefix="/api/v1")


class Me(BaseModel):
    id: int
    username: str
    scopes: list[str]


class Credentials(BaseModel):
    username: str
    password: str


class TokenRequest(BaseModel):
    name: str = Field(examples=["my pipeline"])
    scopes: list[str] = Field(examples=[["read", "trade", "upload"]])


class LoginTokenRequest(Credentials, TokenRequest):
    pass


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewToken(TokenOut):
    token: str = Field(description="shown once; store it safely")


def _token_out(info: accounts.TokenInfo) -> dict[str, object]:
    return {k: getattr(info, k) for k in TokenOut.model_fields}


@router.post(
    "/auth/register",
    response_model=Me,
    status_code=201,
    tags=["accounts"],
    dependencies=[Depends(rate_limit.per_ip("register_ip"))],
)
def register(body: Credentials, request: Request) -> Me:
    who = accounts.register(container(request).db, username=body.username, password=body.password)
    return Me(id=who.user_id, username=who.username, scopes=sorted(who.scopes))


@router.post(
    "/auth/tokens",
    response_model=NewToken,
    status_code=201,
    tags=["accounts"],
    dependencies=[Depends(rate_limit.login())],
)
def login_for_token(body: LoginTokenRequest, request: Request) -> NewToken:
    """Exchange a username and password for a new personal API token (for the CLI's `login`)."""
    db = container(request).db
    who = accounts.authenticate(db, username=body.username, password=body.password)
    rate_limit.limiter(request).hit("tokens", str(who.user_id))
    token, info = accounts.create_token(
        db, user_id=who.user_id, name=body.name, scopes=body.scopes, password_login=True
    )
    return NewToken(token=token, **_token_out(info))


@router.get("/me", response_model=Me, tags=["accounts"])
def me(who: Principal = Depends(principal)) -> Me:
    return Me(id=who.user_id, username=who.username, scopes=sorted(who.scopes))


@router.get("/tokens", response_model=list[TokenOut], tags=["accounts"])
def list_tokens(request: Request, who: Principal = Depends(require(Scope.READ))) -> list[TokenOut]:
    return [
        TokenOut(**_token_out(t))
        for t in accounts.list_tokens(container(request).db, user_id=who.user_id)
    ]


@router.post(
    "/tokens",
    response_model=NewToken,
    status_code=201,
    tags=["accounts"],
    dependencies=[Depends(rate_limit.per_account("tokens"))],
)
def create_token(
    body: TokenRequest, request: Request, who: Principal = Depends(principal)
) -> NewToken:
    """Needs the `tokens` scope; the new token never has a scope its parent lacks."""
    token, info = accounts.create_token(
        container(request).db, user_id=who.user_id, name=body.name, scopes=body.scopes, parent=who
    )
    return NewToken(token=token, **_token_out(info))


@router.delete("/tokens/{token_id}", response_model=TokenOut, tags=["accounts"])
def revoke_token(
    token_id: Int64, request: Request, who: Principal = Depends(principal)
) -> TokenOut:
    """Needs the `tokens` scope, unless a token revokes itself (a CLI's logout)."""
    c = container(request)
    info = accounts.revoke_token(
        c.db, user_id=who.user_id, token_id=token_id, now=c.clock.now(), caller=who
    )
    return TokenOut(**_token_out(info))


class SessionsEnded(BaseModel):
    ended: int = Field(description="browser sessions ended")


@router.delete("/sessions", response_model=SessionsEnded, tags=["accounts"])
def end_all_sessions(
    request: Request, who: Principal = Depends(require(Scope.TOKENS))
) -> SessionsEnded:
    """Log out everywhere: end every browser session of yours (API tokens stay; revoke them
    with `DELETE /api/v1/tokens/{id}`). Needs the `tokens` scope."""
    c = container(request)
    return SessionsEnded(
        ended=accounts.end_all_sessions(c.db, user_id=who.user_id, now=c.clock.now())
    )
