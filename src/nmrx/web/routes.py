"""HTML pages: parse the form, call a service, render. No rules here."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from nmrx.accounts import service as accounts
from nmrx.platform.api_deps import container
from nmrx.platform.errors import ServiceError
from nmrx.sellers import collateral
from nmrx.wallet import service as wallet
from nmrx.wallet.money import InvalidAmount, format_nmr, parse_nmr
from nmrx.web.session import (
    csrf_protect,
    csrf_token,
    current_user_id,
    flash,
    login_session,
    logout_session,
    pop_flashes,
)

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["nmr"] = format_nmr

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, status_code: int = 200, **context: object) -> HTMLResponse:
    c = container(request)
    base = {
        "request": request,
        "csrf_token": csrf_token(request),
        "user": request.session.get("username"),
        "demo": c.settings.demo,
        "demo_logins": getattr(request.app.state, "demo_logins", []),
        "flashes": pop_flashes(request),
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def to_login(request: Request) -> RedirectResponse:
    flash(request, "Please log in first.", "error")
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def _safe_next(target: str | None) -> str:
    return (
        target if target and target.startswith("/") and not target.startswith("//") else "/wallet"
    )


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    from nmrx.market import data as market_data

    nearest: dict[tuple[int, str], object] = {}
    for i in market_data.list_instruments(container(request)):
        nearest.setdefault((i.model_id, i.mode), i)  # ordered by round: the nearest book
    tiles = sorted(nearest.values(), key=lambda i: (i.best_ask is None, i.model_name, i.mode))  # type: ignore[attr-defined]
    return render(request, "home.html", tiles=tiles[:60])


@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request) -> Response:
    return render(request, "register.html", username="")


@router.post("/register", dependencies=[Depends(csrf_protect)])
def register(request: Request, username: str = Form(""), password: str = Form("")) -> Response:
    try:
        who = accounts.register(container(request).db, username=username, password=password)
    except ServiceError as exc:
        return render(
            request, "register.html", status_code=exc.status, error=exc.message, username=username
        )
    login_session(request, user_id=who.user_id, username=who.username)
    flash(request, f"Welcome to NMRX, {who.username}!", "success")
    return RedirectResponse("/wallet", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", username="", next=_safe_next(next))


@router.post("/login", dependencies=[Depends(csrf_protect)])
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
            next=next,
        )
    login_session(request, user_id=who.user_id, username=who.username)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Depends(csrf_protect)])
def logout(request: Request) -> Response:
    logout_session(request)
    flash(request, "You are logged out.")
    return RedirectResponse("/", status_code=303)


@router.get("/wallet", response_class=HTMLResponse)
def wallet_page(request: Request) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    db = container(request).db
    return render(
        request,
        "wallet.html",
        balances=wallet.balances(db, user_id=user_id),
        history=wallet.history(db, user_id=user_id, limit=50),
        collateral=collateral.status(container(request), user_id=user_id),
    )


@router.post("/wallet/faucet", dependencies=[Depends(csrf_protect)])
def wallet_faucet(request: Request, amount: str = Form("100")) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    c = container(request)
    if not c.settings.demo:
        flash(request, "The faucet exists only in demo mode.", "error")
        return RedirectResponse("/wallet", status_code=303)
    try:
        units = parse_nmr(amount)
        wallet.faucet(c.db, user_id=user_id, amount=units, max_amount=c.settings.faucet_max_units)
        flash(request, f"The faucet credited {format_nmr(units)} test NMR.", "success")
    except (ServiceError, InvalidAmount) as exc:
        flash(request, getattr(exc, "message", str(exc)), "error")
    return RedirectResponse("/wallet", status_code=303)


@router.post("/wallet/withdraw", dependencies=[Depends(csrf_protect)])
def wallet_withdraw(request: Request, amount: str = Form("")) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    try:
        units = parse_nmr(amount)
        wallet.withdraw(container(request).db, user_id=user_id, amount=units)
        flash(request, f"Withdrew {format_nmr(units)} NMR.", "success")
    except (ServiceError, InvalidAmount) as exc:
        flash(request, getattr(exc, "message", str(exc)), "error")
    return RedirectResponse("/wallet", status_code=303)


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    tokens = accounts.list_tokens(container(request).db, user_id=user_id)
    return render(request, "tokens.html", tokens=tokens, new_token=None)


@router.post("/tokens", dependencies=[Depends(csrf_protect)])
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
def tokens_revoke(request: Request, token_id: int) -> Response:
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


@router.get("/demo", response_class=HTMLResponse)
def demo_page(request: Request) -> Response:
    c = container(request)
    if not c.settings.demo:
        return render(
            request,
            "error.html",
            status_code=404,
            error="the demo control exists only in demo mode",
        )
    from nmrx.demo import control as demo_clock

    return render(request, "demo.html", clock=demo_clock.status(c))


@router.post("/demo/clock", dependencies=[Depends(csrf_protect)])
def demo_clock_move(request: Request, to: str = Form(...), days: str = Form("1")) -> Response:
    from nmrx.demo import control as demo_clock

    if current_user_id(request) is None:
        return to_login(request)
    try:
        report = demo_clock.advance(container(request), to=to, days=float(days or 1))
        flash(
            request,
            f"Clock moved: {demo_clock.MOVES[to]}. Now {report.now[:16].replace('T', ' ')} UTC, round {report.round_number} {str(report.round_status).lower()}. Deliveries and settlements ran.",
            "success",
        )
    except (ServiceError, ValueError) as exc:
        flash(request, getattr(exc, "message", str(exc)), "error")
    back = request.headers.get("referer", "/demo")
    return RedirectResponse(
        back if back.startswith(str(request.base_url)) else "/demo", status_code=303
    )
