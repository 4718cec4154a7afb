"""HTML pages of the wallet: balances and history, the demo faucet, withdrawals."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nmrx.platform import rate_limit
from nmrx.platform.api_deps import container
from nmrx.platform.errors import ServiceError
from nmrx.sellers import collateral
from nmrx.wallet import service as wallet
from nmrx.wallet.money import InvalidAmount, format_nmr, parse_nmr
from nmrx.web.pages import render, to_login
from nmrx.web.session import csrf_protect, current_user_id, flash

router = APIRouter(include_in_schema=False)


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


@router.post(
    "/wallet/faucet",
    dependencies=[Depends(csrf_protect), Depends(rate_limit.per_session("faucet"))],
)
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
