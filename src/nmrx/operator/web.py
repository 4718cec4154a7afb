"""The operator console's pages (``/operator``): find an account, read it, suspend and
reinstate it, the audit trail with filters, the reserves. Anyone but an operator gets
404 on every route, anonymous visitors included: the console is not advertised."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nmrx.operator import service as operator
from nmrx.operator.rules import DECISIONS, OperatorError, audit_filter
from nmrx.platform.api_deps import container
from nmrx.web.pages import render
from nmrx.web.session import csrf_protect, current_user_id, flash

router = APIRouter(prefix="/operator", include_in_schema=False)


def operator_only(request: Request) -> int:
    """The calling operator's user id; 404 for anyone else (checked before CSRF)."""
    return operator.require_operator(container(request).db, current_user_id(request)).id


@router.get("", response_class=HTMLResponse)
def console(request: Request, q: str = "", me: int = Depends(operator_only)) -> Response:
    db = container(request).db
    return render(
        request,
        "operator/console.html",
        q=q,
        results=operator.find_accounts(db, q) if q.strip() else None,
        suspended=operator.suspended_accounts(db),
        reserves=operator.ledger_reserves(db),
    )


@router.get("/accounts/{user_id}", response_class=HTMLResponse)
def account_page(request: Request, user_id: int, me: int = Depends(operator_only)) -> Response:
    view = operator.account(container(request), user_id=user_id)
    return render(request, "operator/account.html", view=view, me=me)


@router.post(
    "/accounts/{user_id}/suspend", dependencies=[Depends(operator_only), Depends(csrf_protect)]
)
def suspend(
    request: Request, user_id: int, reason: str = Form(""), me: int = Depends(operator_only)
) -> Response:
    row = operator.suspend(container(request), operator_id=me, user_id=user_id, reason=reason)
    flash(
        request,
        f"{row.username} is suspended: their open orders are cancelled, they cannot log in, "
        "trade or withdraw.",
        "success",
    )
    return RedirectResponse(f"/operator/accounts/{user_id}", status_code=303)


@router.post(
    "/accounts/{user_id}/reinstate", dependencies=[Depends(operator_only), Depends(csrf_protect)]
)
def reinstate(
    request: Request, user_id: int, reason: str = Form(""), me: int = Depends(operator_only)
) -> Response:
    row = operator.reinstate(container(request), operator_id=me, user_id=user_id, reason=reason)
    flash(request, f"{row.username} is reinstated: they may log in and trade again.", "success")
    return RedirectResponse(f"/operator/accounts/{user_id}", status_code=303)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    actor: str = "",
    subject: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
    me: int = Depends(operator_only),
) -> Response:
    db = container(request).db
    fields = {"actor": actor, "subject": subject, "action": action, "since": since, "until": until}
    error = None
    try:
        entries = operator.audit_trail(db, audit_filter(**fields))
    except OperatorError as exc:
        error, entries = str(exc), []
    actions = sorted({*operator.audit_actions(db), *DECISIONS})
    return render(
        request,
        "operator/audit.html",
        status_code=422 if error else 200,
        entries=entries,
        fields=fields,
        actions=actions,
        error=error,
    )
