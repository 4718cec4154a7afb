"""The model page (a StockX-like product page) and the trade flow with a confirmation step."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nmrx.market import data as market_data
from nmrx.market import model_page
from nmrx.market import service as orders
from nmrx.market import standing_orders as listings
from nmrx.market.data import InstrumentView
from nmrx.market.orders import Side
from nmrx.market.rules import InvalidLadderText, parse_ladder
from nmrx.platform.api_deps import container
from nmrx.platform.bounds import INT64_MAX, INT64_MIN, Int64, form_int
from nmrx.platform.errors import ServiceError
from nmrx.reputation.web import reputation_context
from nmrx.sellers import collateral
from nmrx.wallet import service as wallet
from nmrx.wallet.money import InvalidAmount, parse_nmr
from nmrx.web.pages import render, to_login
from nmrx.web.session import csrf_protect, current_user_id, flash

router = APIRouter(include_in_schema=False)


@router.get("/models/{model_id}", response_class=HTMLResponse)
def model(
    request: Request, model_id: Int64, mode: str = "file", round: Int64 | None = None
) -> Response:
    c = container(request)
    card = model_page.model_card(c, model_id=model_id)
    mode = mode if mode in ("file", "stake") else "file"
    books = market_data.list_instruments(c, model_id=model_id, mode=mode)
    chosen = next((b for b in books if b.round_number == round), books[0] if books else None)
    user_id = current_user_id(request)
    depth = market_data.book(c, instrument_id=chosen.id, depth=10) if chosen else None
    tape = market_data.trades(c, instrument_id=chosen.id, limit=10) if chosen else []
    history = market_data.price_history(c, model_id=model_id, mode=mode)
    last, change = (
        (history[-1].close, history[-1].close - history[-2].close)
        if len(history) >= 2
        else ((history[-1].close, None) if history else (None, None))
    )
    ladder = None
    if user_id is not None and user_id == card.owner_id:
        asks = listings.list_standing(c, user_id=user_id, side=Side.ASK)
        ladder = next(
            (
                s
                for s in asks
                if s.model_id == model_id and s.mode == mode and s.state != "cancelled"
            ),
            None,
        )
    return render(
        request,
        "model.html",
        card=card,
        mode=mode,
        books=books,
        book=chosen,
        depth=depth,
        tape=tape,
        last_sale=last,
        last_change=change,
        slots=model_page.slots(c, user_id=user_id, tournament=card.tournament),
        is_owner=user_id is not None and user_id == card.owner_id,
        ladder=ladder,
        balances=wallet.balances(c.db, user_id=user_id) if user_id else None,
        seller_collateral=collateral.status(c, user_id=user_id)
        if user_id and user_id == card.owner_id
        else None,
        collateral_rate_bp=c.settings.stake_collateral_rate_bp,
        **reputation_context(request, model_id, back=f"/models/{model_id}?mode={mode}"),
    )


def _units(text: str, what: str) -> int:
    try:
        return parse_nmr(text)
    except InvalidAmount as exc:
        raise InvalidAmountForm(f"{what}: {exc}") from None


class InvalidAmountForm(ValueError):
    pass


@router.post("/models/{model_id}/order/preview", dependencies=[Depends(csrf_protect)])
def preview(
    request: Request,
    model_id: Int64,
    instrument_id: int = Form(..., ge=INT64_MIN, le=INT64_MAX),
    side: str = Form("bid"),
    kind: str = Form("limit"),
    quantity: str = Form("1"),
    price: str = Form(""),
    slot_model_id: str = Form(""),
) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    c = container(request)
    back = f"/models/{model_id}"
    try:
        parsed = form_int(quantity)
        qty = -1 if parsed is None else parsed
        units = None if kind in ("buy_now", "sell_now") else _units(price, "price")
        q = model_page.quote(
            c, instrument_id=instrument_id, side=side, kind=kind, quantity=qty, price=units
        )
        back = f"/models/{model_id}?mode={q.mode}&round={q.round_number}"
    except (ServiceError, InvalidAmountForm) as exc:
        flash(request, getattr(exc, "message", str(exc)), "error")
        return RedirectResponse(back, status_code=303)
    slot = form_int(slot_model_id)
    slot_name = (
        dict(
            model_page.slots(
                c,
                user_id=user_id,
                tournament=model_page.model_card(c, model_id=model_id).tournament,
            )
        ).get(slot)
        if slot
        else None
    )
    return render(
        request,
        "confirm_order.html",
        model_id=model_id,
        q=q,
        slot=slot,
        slot_name=slot_name,
        client_order_id=f"web-{secrets.token_hex(8)}",
        balances=wallet.balances(c.db, user_id=user_id),
        back=back,
    )


@router.post("/models/{model_id}/order/confirm", dependencies=[Depends(csrf_protect)])
def confirm(
    request: Request,
    model_id: Int64,
    instrument_id: int = Form(..., ge=INT64_MIN, le=INT64_MAX),
    side: str = Form(...),
    kind: str = Form(...),
    quantity: int = Form(..., ge=INT64_MIN, le=INT64_MAX),
    price: int = Form(..., ge=INT64_MIN, le=INT64_MAX),
    slot_model_id: str = Form(""),
    client_order_id: str = Form(...),
) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    c = container(request)
    slot = form_int(slot_model_id)
    back = f"/models/{model_id}"
    try:
        inst = market_data.get_instrument(c, instrument_id=instrument_id)
        back = f"/models/{model_id}?mode={inst.mode}&round={inst.round_number}"
        # Buy Now / Sell Now at the price shown on the confirmation: never worse than
        # what the user confirmed, even if the book moved meanwhile.
        if kind in ("buy_now", "sell_now"):
            placed = orders.at_market(
                c,
                user_id=user_id,
                instrument_id=instrument_id,
                side=side,
                quantity=quantity,
                price=price,
                client_order_id=client_order_id,
                slot_model_id=slot if side == "bid" else None,
            )
        else:
            placed = orders.place_order(
                c,
                user_id=user_id,
                instrument_id=instrument_id,
                side=side,
                quantity=quantity,
                price=price,
                client_order_id=client_order_id,
                slot_model_id=slot if side == "bid" else None,
            )
    except ServiceError as exc:
        flash(request, exc.message, "error")
        return RedirectResponse(back, status_code=303)
    o = placed.order
    what = "Bought" if side == "bid" else "Sold"
    if o.filled:
        flash(request, f"{what} {o.filled} at the market; your order is {o.state}.", "success")
    elif o.state == "open":
        flash(
            request,
            f"Your {'bid' if side == 'bid' else 'ask'} for {o.quantity} is in the book.",
            "success",
        )
    else:
        flash(
            request,
            f"Nothing traded: your order was {o.state} ({o.cancel_reason or 'no match'}).",
            "error",
        )
    return RedirectResponse(back, status_code=303)


@router.post("/models/{model_id}/ladder", dependencies=[Depends(csrf_protect)])
def set_ladder(
    request: Request,
    model_id: Int64,
    mode: str = Form("file"),
    levels: str = Form(""),
    apply_to_open: str = Form(""),
) -> Response:
    """A seller's ask ladder: one level per line, ``quantity @ price`` (e.g. ``3 @ 0.5``)."""
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    back = f"/models/{model_id}?mode={mode}"
    try:
        parsed = parse_ladder(levels)
        listings.set_ladder(
            container(request),
            user_id=user_id,
            model_id=model_id,
            mode=mode,
            levels=parsed,
            apply_to_open=apply_to_open == "on",
        )
        flash(
            request,
            f"Ladder saved: {len(parsed)} level(s), placed in each new round's book.",
            "success",
        )
    except (ServiceError, InvalidLadderText) as exc:
        flash(request, getattr(exc, "message", str(exc)), "error")
    return RedirectResponse(back, status_code=303)


@router.post("/orders/{order_id}/cancel", dependencies=[Depends(csrf_protect)])
def cancel(request: Request, order_id: Int64, back: str = Form("/portfolio")) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    try:
        orders.cancel_order(container(request), user_id=user_id, order_id=order_id)
        flash(request, "Order cancelled; its hold is released.", "success")
    except ServiceError as exc:
        flash(request, exc.message, "error")
    return RedirectResponse(
        back if back.startswith("/") and not back.startswith("//") else "/portfolio",
        status_code=303,
    )


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    """The front page: one tile per model and mode, its nearest book."""
    nearest: dict[tuple[int, str], InstrumentView] = {}
    for i in market_data.list_instruments(container(request)):
        nearest.setdefault((i.model_id, i.mode), i)  # ordered by round: the nearest book
    tiles = sorted(nearest.values(), key=lambda i: (i.best_ask is None, i.model_name, i.mode))
    return render(request, "home.html", tiles=tiles[:60])
