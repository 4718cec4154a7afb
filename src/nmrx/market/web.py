"""The model page (a StockX-like product page) and the trade flow with a confirmation step."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nmrx.delivery.rules import upload_deadline
from nmrx.market import data as market_data
from nmrx.market import model_page
from nmrx.market import service as orders
from nmrx.market import standing_orders as listings
from nmrx.market.data import InstrumentView
from nmrx.market.orders import Side
from nmrx.market.rules import InvalidLadderText, parse_ladder
from nmrx.platform.api_deps import container
from nmrx.platform.bounds import form_int
from nmrx.platform.errors import ServiceError
from nmrx.reputation.web import reputation_context
from nmrx.sellers import collateral
from nmrx.wallet import service as wallet
from nmrx.wallet.money import TICK, InvalidAmount, format_nmr, parse_nmr
from nmrx.web.pages import render, to_login
from nmrx.web.session import csrf_protect, current_user_id, flash

router = APIRouter(include_in_schema=False)


TICK_UNITS = TICK  # one price step: a bid prefilled one step above the best bid


@router.get("/models/{model_id}", response_class=HTMLResponse)
def model(
    request: Request,
    model_id: int,
    mode: str = "file",
    round: int | None = None,
    kind: str = "",
    quantity: str = "",
    price: str = "",
    slot: str = "",
) -> Response:
    typed = {"kind": kind, "quantity": quantity, "price": price, "slot": slot}
    return _model_page(request, model_id, mode=mode, round_number=round, typed=typed)


def _model_page(
    request: Request,
    model_id: int,
    *,
    mode: str,
    round_number: int | None,
    typed: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    c = container(request)
    card = model_page.model_card(c, model_id=model_id)
    mode = mode if mode in ("file", "stake") else "file"
    books = market_data.list_instruments(c, model_id=model_id, mode=mode)
    chosen = next((b for b in books if b.round_number == round_number), books[0] if books else None)
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
    bid_price = typed.get("price") or (
        format_nmr(chosen.best_bid + TICK_UNITS) if chosen and chosen.best_bid else ""
    )
    return render(
        request,
        "model.html",
        status_code=status_code,
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
        typed={
            "kind": "limit" if typed.get("kind") == "limit" else "buy_now",
            "quantity": typed.get("quantity") or "1",
            "price": bid_price,
            "slot": typed.get("slot", ""),
        },
        errors=errors or {},
        **reputation_context(request, model_id, back=f"/models/{model_id}?mode={mode}"),
    )


def review_url(model_id: int, fields: dict[str, str]) -> str:
    """The review step as a GET address: where a logged-out visitor returns after logging in."""
    kept = {k: v for k, v in fields.items() if v}
    return f"/models/{model_id}/order/preview?{urlencode(kept)}"


def _login_first(request: Request, next_url: str) -> Response:
    flash(request, "Log in or create an account to review your order: what you typed is kept.")
    return RedirectResponse(f"/login?{urlencode({'next': next_url}, safe='/')}", status_code=303)


@router.get("/models/{model_id}/order/preview", response_class=HTMLResponse)
def preview_again(
    request: Request,
    model_id: int,
    instrument_id: int | None = None,
    side: str = "bid",
    kind: str = "buy_now",
    quantity: str = "1",
    price: str = "",
    slot_model_id: str = "",
) -> Response:
    """The review step by address (after logging in): shows, moves nothing."""
    fields = {
        "instrument_id": "" if instrument_id is None else str(instrument_id),
        "side": side,
        "kind": kind,
        "quantity": quantity,
        "price": price,
        "slot_model_id": slot_model_id,
    }
    return _review(request, model_id, fields)


@router.post("/models/{model_id}/order/preview", dependencies=[Depends(csrf_protect)])
def preview(
    request: Request,
    model_id: int,
    instrument_id: int = Form(...),
    side: str = Form("bid"),
    kind: str = Form("buy_now"),
    quantity: str = Form("1"),
    price: str = Form(""),
    slot_model_id: str = Form(""),
) -> Response:
    fields = {
        "instrument_id": "" if instrument_id is None else str(instrument_id),
        "side": side,
        "kind": kind,
        "quantity": quantity,
        "price": price,
        "slot_model_id": slot_model_id,
    }
    return _review(request, model_id, fields)


def _review(request: Request, model_id: int, fields: dict[str, str]) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return _login_first(request, review_url(model_id, fields))
    c = container(request)
    side = fields["side"] if fields["side"] in ("bid", "ask") else "bid"
    kind = fields["kind"]
    if kind not in ("buy_now", "sell_now", "limit"):
        kind = "buy_now" if side == "bid" else "sell_now"
    inst_id = form_int(fields["instrument_id"])
    inst = None
    if inst_id is not None:
        try:
            inst = market_data.get_instrument(c, instrument_id=inst_id)
        except ServiceError:
            inst = None
    if inst is None or inst.model_id != model_id:
        flash(request, "That round's book is not open any more: choose a round.", "error")
        return RedirectResponse(f"/models/{model_id}", status_code=303)
    unit = "copies" if inst.mode == "file" else "NMR of allowance"
    typed = {
        "kind": kind,
        "quantity": fields["quantity"],
        "price": fields["price"],
        "slot": fields["slot_model_id"],
    }
    errors: dict[str, str] = {}
    qty = form_int(fields["quantity"])
    if qty is None or qty <= 0:
        errors["quantity"] = (
            f"Enter how many {unit} you want as a whole number above zero, e.g. 10."
        )
    units = None
    if kind == "limit":
        try:
            units = parse_nmr(fields["price"].strip())
            if units <= 0:
                raise InvalidAmount("not above zero")
        except InvalidAmount:
            errors["price"] = (
                f"Enter your {'bid' if side == 'bid' else 'ask'} price in NMR per "
                f"{'copy' if inst.mode == 'file' else 'NMR staked'}, e.g. 0.05."
            )
    q = None
    if not errors and qty is not None:
        try:
            q = model_page.quote(
                c, instrument_id=inst.id, side=side, kind=kind, quantity=qty, price=units
            )
        except ServiceError as exc:
            errors["form"] = exc.message[:1].upper() + exc.message[1:] + "."
    if q is None:
        return _model_page(
            request,
            model_id,
            mode=inst.mode,
            round_number=inst.round_number,
            typed=typed,
            errors=errors,
            status_code=422,
        )
    card = model_page.model_card(c, model_id=model_id)
    my_slots = model_page.slots(c, user_id=user_id, tournament=card.tournament)
    slot = form_int(fields["slot_model_id"])
    slot_name = dict(my_slots).get(slot) if slot else None
    if slot_name is None:
        slot = None
    balances = wallet.balances(c.db, user_id=user_id)
    blockers: list[tuple[str, str, str]] = []  # (message, link, link text)
    if side == "bid" and balances.available < q.hold:
        blockers.append(
            (
                f"You need {format_nmr(q.hold)} NMR available for this order and have "
                f"{format_nmr(balances.available)} NMR.",
                "/wallet",
                "Add NMR",
            )
        )
    if side == "bid" and q.mode == "stake" and slot is None:
        blockers.append(
            (
                "Stake Mode submits the file to one of your own models: connect your Numerai "
                "account so your models can receive it."
                if not my_slots
                else "Choose which of your models receives the submission.",
                "/numerai-keys" if not my_slots else _back(model_id, q, typed),
                "Connect Numerai" if not my_slots else "Choose a slot",
            )
        )
    return render(
        request,
        "confirm_order.html",
        model_id=model_id,
        card=card,
        q=q,
        slot=slot,
        slot_name=slot_name,
        client_order_id=f"web-{secrets.token_hex(8)}",
        balances=balances,
        blockers=blockers,
        upload_by=upload_deadline(q.round_close_at, c.settings.upload_margin_minutes),
        back=_back(model_id, q, typed),
    )


def _back(model_id: int, q: model_page.Quote, typed: dict[str, str]) -> str:
    kept = {"mode": q.mode, "round": str(q.round_number), **typed}
    return f"/models/{model_id}?{urlencode({k: v for k, v in kept.items() if v})}"


def _plural(n: int, mode: str) -> str:
    if mode == "file":
        return f"{n} {'copy' if n == 1 else 'copies'}"
    return f"{n} NMR of allowance"


@router.post("/models/{model_id}/order/confirm", dependencies=[Depends(csrf_protect)])
def confirm(
    request: Request,
    model_id: int,
    instrument_id: int = Form(...),
    side: str = Form(...),
    kind: str = Form(...),
    quantity: int = Form(...),
    price: int = Form(...),
    slot_model_id: str = Form(""),
    client_order_id: str = Form(...),
    requested: str = Form(""),
) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    c = container(request)
    slot = form_int(slot_model_id)
    back = f"/models/{model_id}"
    mode = "file"
    try:
        inst = market_data.get_instrument(c, instrument_id=instrument_id)
        mode = inst.mode
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
    asked = max(form_int(requested) or o.quantity, o.quantity)
    what = "Bought" if side == "bid" else "Sold"
    filled_value = sum(f.price * f.quantity for f in o.fills)
    avg = format_nmr(filled_value // o.filled) if o.filled else ""
    held = "nothing is held for them" if side == "bid" else "nothing is listed for them"
    if o.filled and o.state == "open":
        flash(
            request,
            f"{what} {_plural(o.filled, mode)} at avg {avg} NMR; your "
            f"{'bid' if side == 'bid' else 'ask'} for the remaining {o.remaining} is in the "
            "book until trading closes.",
            "success",
        )
    elif o.filled and o.filled < asked:
        flash(
            request,
            f"{what} {_plural(o.filled, mode)} at avg {avg} NMR; the remaining "
            f"{asked - o.filled} were not filled and {held}.",
            "success",
        )
    elif o.filled:
        flash(request, f"{what} {_plural(o.filled, mode)} at avg {avg} NMR.", "success")
    elif o.state == "open":
        flash(
            request,
            f"Your {'bid' if side == 'bid' else 'ask'} for {_plural(o.quantity, mode)} at "
            f"{format_nmr(o.price)} NMR is in the book until trading closes.",
            "success",
        )
    else:
        flash(
            request,
            f"Nothing traded: the offer was gone before you confirmed, and {held} "
            f"({o.cancel_reason or 'no match'}).",
            "error",
        )
    return RedirectResponse(back, status_code=303)


@router.post("/models/{model_id}/ladder", dependencies=[Depends(csrf_protect)])
def set_ladder(
    request: Request,
    model_id: int,
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
def cancel(request: Request, order_id: int, back: str = Form("/portfolio")) -> Response:
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
