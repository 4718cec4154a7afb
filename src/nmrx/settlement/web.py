"""HTML pages of fills: the buyer's portfolio, the seller's sales, one fill's timeline,
and their live states (the session's fill stream)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from nmrx.market import service as orders
from nmrx.platform.api_deps import container
from nmrx.platform.bounds import Int64
from nmrx.settlement import service as settlement
from nmrx.settlement.api import stream_fill_changes
from nmrx.wallet import service as wallet
from nmrx.web.pages import render, to_login
from nmrx.web.session import current_user_id

router = APIRouter(include_in_schema=False)


@router.get("/portfolio", response_class=HTMLResponse)
def portfolio(request: Request) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    c = container(request)
    cursor = settlement.last_change_id(c, user_id=user_id)  # before the fills: nothing missed
    fills = settlement.fills_of_user(c, user_id=user_id, role="buyer")
    intro = "Your purchases and where each stands: delivery, consistency check, settlement."
    open_orders = orders.list_orders(c, user_id=user_id, state="open", limit=200)
    return render(
        request,
        "fills.html",
        title="Portfolio",
        intro=intro,
        fills=fills,
        open_orders=open_orders,
        balances=wallet.balances(c.db, user_id=user_id),
        live_after=cursor,
        live_role="buyer",
    )


@router.get("/sales", response_class=HTMLResponse)
def sales(request: Request) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    c = container(request)
    cursor = settlement.last_change_id(c, user_id=user_id)
    fills = settlement.fills_of_user(c, user_id=user_id, role="seller")
    intro = (
        "Your sales: paid at delivery (File Mode) or after the consistency check (protected fills)."
    )
    return render(
        request,
        "fills.html",
        title="Sales",
        intro=intro,
        fills=fills,
        live_after=cursor,
        live_role="seller",
    )


@router.get("/fills/stream")
async def fill_stream(
    request: Request, after: Int64 | None = None, poll: float = 1.0, max_events: Int64 | None = None
) -> Response:
    """The browser's live fill states: the JSON API's stream under the session (an
    ``EventSource`` cannot send a bearer token). Only the session user's fills."""
    user_id = current_user_id(request)
    if user_id is None:  # a 401, not the login page: an EventSource cannot follow a redirect
        return PlainTextResponse("please log in", status_code=401)
    return await stream_fill_changes(
        request, user_id=user_id, after=after, poll=poll, max_events=max_events
    )


@router.get("/fills/{fill_id}", response_class=HTMLResponse)
def fill_page(request: Request, fill_id: Int64) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    c = container(request)
    cursor = settlement.last_change_id(c, user_id=user_id)
    fill, steps = settlement.timeline(c, user_id=user_id, fill_id=fill_id)
    return render(request, "fill.html", fill=fill, steps=steps, live_after=cursor)
