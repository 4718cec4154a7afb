"""Browser sessions and CSRF protection for every form."""

from __future__ import annotations

import secrets

from fastapi import Request

from nmrx.platform.errors import Forbidden, Unauthorized


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def csrf_protect(request: Request) -> None:
    """Dependency for every state-changing web route."""
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(expected, sent):
        raise Forbidden(
            "the form expired or did not come from this site (CSRF check failed); reload and try again"
        )


def csrf_protect_before_body(request: Request) -> None:
    """For routes whose body is large (uploads): the token must come in the `X-CSRF-Token`
    header or the `csrf_token` query parameter, so it is checked before the body is read."""
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token") or request.query_params.get("csrf_token")
    if not expected or not sent or not secrets.compare_digest(expected, sent):
        raise Forbidden(
            "the form expired or did not come from this site (CSRF check failed); reload and try again"
        )


def login_session(request: Request, *, user_id: int, username: str) -> None:
    request.session.clear()  # new session on login: no fixation
    request.session["user_id"] = user_id
    request.session["username"] = username
    csrf_token(request)


def logout_session(request: Request) -> None:
    request.session.clear()


def current_user_id(request: Request) -> int | None:
    value = request.session.get("user_id")
    return int(value) if value is not None else None


def require_login(request: Request) -> int:
    user_id = current_user_id(request)
    if user_id is None:
        raise Unauthorized("please log in")
    return user_id


def flash(request: Request, message: str, kind: str = "info") -> None:
    request.session.setdefault("flash", []).append({"kind": kind, "message": message})


def pop_flashes(request: Request) -> list[dict[str, str]]:
    return request.session.pop("flash", [])
