"""HTML pages of reputation and discovery: the market list (search, filters, sorts,
pages, trending), a model's track record with its reviews, and the review and reply
forms. Parse, call a service, render; no rules here.

For other pages: :func:`reputation_context` gives what ``_track_record.html`` and
``_reviews.html`` need for a model (``{% include %}`` them with that context).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nmrx.platform.api_deps import container
from nmrx.platform.bounds import MAX_PAGE, Int64, form_int
from nmrx.platform.errors import InvalidInput, ServiceError
from nmrx.reputation import discovery, reviews
from nmrx.reputation import track_records as performance
from nmrx.wallet.money import InvalidAmount, parse_nmr
from nmrx.web.pages import render, to_login
from nmrx.web.session import csrf_protect, current_user_id, flash

router = APIRouter(include_in_schema=False)

SORT_LABELS = [
    ("volume", "volume"),
    ("lowest_ask", "lowest ask"),
    ("last_sale", "last sale"),
    ("score", "recent corr mean"),
    ("sharpe", "Sharpe"),
    ("stake", "stake"),
    ("rating", "seller rating"),
    ("name", "name"),
]


def _safe_back(path: str | None, default: str) -> str:
    return path if path and path.startswith("/") and not path.startswith("//") else default


def reputation_context(request: Request, model_id: int, *, back: str | None = None) -> dict:
    """Context for ``_track_record.html`` and ``_reviews.html`` of one model."""
    c = container(request)
    user_id = current_user_id(request)
    return {
        "track": performance.track_record(c, model_id),
        "reviews": reviews.of_model(c, model_id=model_id),
        "reviewable": reviews.reviewable(c, user_id=user_id, model_id=model_id)
        if user_id is not None
        else [],
        "review_model_id": model_id,
        "review_back": back,
        "sync_back": back,
    }


def _price(text: str | None, what: str) -> int | None:
    if not text:
        return None
    try:
        return parse_nmr(text)
    except InvalidAmount as exc:
        raise InvalidInput(f"{what}: {exc}") from None


@router.get("/markets", response_class=HTMLResponse)
def markets_page(
    request: Request,
    q: str | None = None,
    tournament: str | None = None,
    mode: str | None = None,
    min_price: str | None = None,
    max_price: str | None = None,
    has_asks: str | None = None,
    sort: str = "volume",
    order: str | None = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Int64 = 25,
) -> Response:
    c = container(request)
    filters: dict[str, Any] = {
        "q": q or None,
        "tournament": tournament or None,
        "mode": mode or None,
        "min_price": min_price or None,
        "max_price": max_price or None,
        "has_asks": "true" if has_asks in ("true", "on", "1") else None,
        "sort": sort,
        "order": order or None,
        "per_page": per_page if per_page != 25 else None,
    }
    error = None
    try:
        result = discovery.list_markets(
            c,
            q=filters["q"],
            tournament=filters["tournament"],
            mode=filters["mode"],
            min_price=_price(filters["min_price"], "lowest ask from"),
            max_price=_price(filters["max_price"], "lowest ask to"),
            has_asks=True if filters["has_asks"] else None,
            sort=sort,
            order=filters["order"],
            page=max(1, page),
            per_page=per_page,
        )
    except InvalidInput as exc:
        error = exc.message
        result = discovery.list_markets(c)

    def query(**changes: object) -> str:
        values = {**filters, **changes}
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})

    return render(
        request,
        "markets.html",
        status_code=422 if error else 200,
        page=result,
        f=filters,
        error=error,
        sorts=SORT_LABELS,
        query=query,
        trending=discovery.trending(c, limit=10),
        trending_rounds=c.settings.trending_rounds,
    )


@router.get("/models/{model_id}/track-record", response_class=HTMLResponse)
def track_record_page(request: Request, model_id: Int64) -> Response:
    back = f"/models/{model_id}/track-record"
    return render(request, "track_record.html", **reputation_context(request, model_id, back=back))


@router.post("/models/{model_id}/track-record/sync", dependencies=[Depends(csrf_protect)])
def sync_track_record(request: Request, model_id: Int64, back: str = Form("")) -> Response:
    if current_user_id(request) is None:
        return to_login(request)
    try:
        performance.sync_on_demand(container(request), model_id=model_id)
        flash(request, "Track record synced from Numerai.", "success")
    except ServiceError as exc:
        flash(request, exc.message, "error")
    return RedirectResponse(_safe_back(back, f"/models/{model_id}/track-record"), status_code=303)


@router.post("/models/{model_id}/reviews", dependencies=[Depends(csrf_protect)])
def post_review(
    request: Request,
    model_id: Int64,
    rating: str = Form(""),
    text: str = Form(""),
    fill_id: str = Form(""),
    back: str = Form(""),
) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    try:
        reviews.create_review(
            container(request),
            user_id=user_id,
            model_id=model_id,
            rating=form_int(rating) or 0,
            text=text,
            fill_id=form_int(fill_id),
        )
        flash(
            request, "Thank you: your review is posted, marked as a verified purchase.", "success"
        )
    except ServiceError as exc:
        flash(request, exc.message[0].upper() + exc.message[1:] + ".", "error")
    return RedirectResponse(_safe_back(back, f"/models/{model_id}/track-record"), status_code=303)


@router.post("/reviews/{review_id}/reply", dependencies=[Depends(csrf_protect)])
def post_reply(
    request: Request, review_id: Int64, text: str = Form(""), back: str = Form("")
) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    try:
        review = reviews.reply(container(request), user_id=user_id, review_id=review_id, text=text)
        flash(request, "Your reply is posted.", "success")
        default = f"/sellers/{review.seller}"
    except ServiceError as exc:
        flash(request, exc.message[0].upper() + exc.message[1:] + ".", "error")
        default = "/markets"
    return RedirectResponse(_safe_back(back, default), status_code=303)
