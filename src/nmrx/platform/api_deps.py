"""Shared dependencies of the JSON API: the container and the calling principal."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from nmrx.accounts import service as accounts
from nmrx.accounts.rules import Scope
from nmrx.accounts.service import Principal
from nmrx.platform.bootstrap import Container
from nmrx.platform.errors import Unauthorized

bearer = HTTPBearer(auto_error=False, description="a personal API token: `Bearer nmrx_…`")


def container(request: Request) -> Container:
    return request.app.state.container


def principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("authentication required: send `Authorization: Bearer <API token>`")
    c = container(request)
    return accounts.principal_for_token(c.db, credentials.credentials, clock=c.clock)


def require(scope: Scope) -> Callable[..., Principal]:
    def dependency(who: Principal = Depends(principal)) -> Principal:
        who.require(scope)
        return who

    return dependency
