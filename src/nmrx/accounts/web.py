"""HTML pages of accounts: register, log in and out, personal API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nmrx.accounts import service as accounts
from nmrx.platform import rate_limit
from nmrx.platform.api_deps import container
from nmrx.platform.bounds import Int64
from nmrx.platform.errors import ServiceError
from nmrx.web.pages import render, to_login
from nmrx.web.session import (
    csrf_protect,
    current_user_id,
    flash,
    login_session,
    logout_session,
)

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """A return address on this site only: a path starting with one "/" (not "//", no
    backslash or control character a browser could read as another host)."""
    ok = (
        target is not None
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(ch) < 32 for ch in target)
    )
    return target if ok and target is not None else "/wallet"


@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request, next: str | None = None) -> Response:
    return render(request, "register.html", username="", next=_safe_next(next))


@router.post(
    "/register",
    dependencies=[Depends(csrf_protect), Depends(rate_limit.per_ip("register_ip"))],
)
def register(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/wallet"),
) -> Response:
    try:
        who = accounts.register(container(request).db, username=username, password=password)
    except ServiceError as exc:
        return render(
            request,
            "register.html",
            status_code=exc.status,
            error=exc.message,
            username=username,
            next=_safe_next(next),
        )
    login_session(request, user_id=who.user_id, username=who.username)
    flash(request, f"Welcome to NMRX, {who.username}!", "success")
    return RedirectResponse(_safe_next(next), status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", username="", next=_safe_next(next))


@router.post("/login", dependencies=[Depends(csrf_protect), Depends(rate_limit.login())])
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/wallet"),
) -> Response:
    try:
        who = accounts.authenticate(container(request).db, username=username, password=password)
    except ServiceError as exc:
        return render(
            request,
            "login.html",
            status_code=exc.status,
            error=exc.message,
            username=username,
            next=_safe_next(next),
        )
    login_session(request, user_id=who.user_id, username=who.username)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Depends(csrf_protect)])
def logout(request: Request) -> Response:
    logout_session(request)
    flash(request, "You are logged out.")
    return RedirectResponse("/", status_code=303)


@router.post("/logout-everywhere", dependencies=[Depends(csrf_protect)])
def logout_everywhere(request: Request) -> Response:
    """Ends every browser session of the user, this one included."""
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    c = container(request)
    ended = accounts.end_all_sessions(c.db, user_id=user_id, now=c.clock.now())
    logout_session(request)
    flash(request, f"You are logged out everywhere ({ended} browser session(s) ended).")
    return RedirectResponse("/", status_code=303)


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    tokens = accounts.list_tokens(container(request).db, user_id=user_id)
    return render(request, "tokens.html", tokens=tokens, new_token=None)


@router.post(
    "/tokens", dependencies=[Depends(csrf_protect), Depends(rate_limit.per_session("tokens"))]
)
async def tokens_create(request: Request) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    form = await request.form()
    scopes = [str(s) for s in form.getlist("scopes")]
    db = container(request).db
    try:
        token, _info = accounts.create_token(
            db, user_id=user_id, name=str(form.get("name", "")), scopes=scopes
        )
    except ServiceError as exc:
        flash(request, exc.message, "error")
        return RedirectResponse("/tokens", status_code=303)
    # Shown once, in this response only; never stored in clear.
    tokens = accounts.list_tokens(db, user_id=user_id)
    return render(request, "tokens.html", status_code=201, tokens=tokens, new_token=token)


@router.post("/tokens/{token_id}/revoke", dependencies=[Depends(csrf_protect)])
def tokens_revoke(request: Request, token_id: Int64) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    try:
        c = container(request)
        info = accounts.revoke_token(c.db, user_id=user_id, token_id=token_id, now=c.clock.now())
        flash(request, f"Token “{info.name}” revoked.", "success")
    except ServiceError as exc:
        flash(request, exc.message, "error")
    return RedirectResponse("/tokens", status_code=303)
