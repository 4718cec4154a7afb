"""Browser sessions and CSRF protection for every form.

The signed cookie carries a random session id; the session itself lives in the database
(``accounts.service``), so logging out, or out everywhere, ends it even for a copied cookie."""

from __future__ import annotations

import secrets

from fastapi import Request

from nmrx.accounts import service as accounts
from nmrx.platform.api_deps import container
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
    c = container(request)
    request.session.clear()  # new session on login: no fixation
    request.session["sid"] = accounts.start_session(
        c.db,
        user_id=user_id,
        now=c.clock.now(),
        max_age_seconds=c.settings.session_max_age_seconds,
    )
    request.session["user_id"] = user_id
    request.session["username"] = username
    request.state.session_user = user_id
    csrf_token(request)


def logout_session(request: Request) -> None:
    c = container(request)
    accounts.end_session(c.db, request.session.get("sid"), now=c.clock.now())
    request.session.clear()
    request.state.session_user = None


def current_user_id(request: Request) -> int | None:
    """The logged-in user, if the session is still live server side (checked once a request);
    an ended or expired session is forgotten."""
    if hasattr(request.state, "session_user"):
        cached: int | None = request.state.session_user
        return cached
    user_id: int | None = None
    if request.session.get("user_id") is not None:
        c = container(request)
        who = accounts.principal_for_session(c.db, request.session.get("sid"), now=c.clock.now())
        if who is not None and accounts.is_suspended(c.db, who.user_id):  # its sessions end
            request.session.clear()
            flash(
                request, "This account is suspended by the operator: you are logged out.", "error"
            )
        elif who is not None and who.user_id == int(request.session["user_id"]):
            user_id = who.user_id
        else:
            request.session.pop("user_id", None)
            request.session.pop("username", None)
            request.session.pop("sid", None)
    request.state.session_user = user_id
    return user_id


def current_username(request: Request) -> str | None:
    return request.session.get("username") if current_user_id(request) is not None else None


def require_login(request: Request) -> int:
    user_id = current_user_id(request)
    if user_id is None:
        raise Unauthorized("please log in")
    return user_id


def flash(request: Request, message: str, kind: str = "info") -> None:
    request.session.setdefault("flash", []).append({"kind": kind, "message": message})


def pop_flashes(request: Request) -> list[dict[str, str]]:
    return request.session.pop("flash", [])
