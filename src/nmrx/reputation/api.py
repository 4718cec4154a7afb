"""JSON API of reputation and discovery: track records, seller standing, verified
reviews, the market list and trending. Parse, call a service, serialise; no rules here.

Reading is public; syncing a track record needs a token with ``read``, writing a review
or a reply needs ``trade``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, BeforeValidator, Field, StrictInt

from nmrx.accounts.rules import Scope
from nmrx.accounts.service import Principal
from nmrx.platform.api_deps import container, require
from nmrx.platform.bounds import MAX_PAGE, Int64
from nmrx.platform.wire import Money, _no_float
from nmrx.reputation import discovery, reviews, standing
from nmrx.reputation import track_records as performance
from nmrx.reputation.rules import Summary
from nmrx.wallet.money import parse_nmr

router = APIRouter(prefix="/api/v1")


def _money(units: int | None) -> Money | None:
    return Money.of(units) if units is not None else None


# ------------------------------------------------------------------ track records


class SummaryOut(BaseModel):
    rounds: int = Field(description="rounds with a score in the window")
    mean: float | None
    std: float | None = Field(description="sample standard deviation (ddof = 1)")
    sharpe: float | None = Field(description="mean / std, per round, not annualised")
    max_drawdown: float | None = Field(
        description="largest fall of the cumulative score from a peak (≥ 0)"
    )
    positive_share: float | None = Field(description="share of rounds scoring above 0")


class RoundOut(BaseModel):
    round_number: int
    corr: float | None = Field(description="latest published v2_corr20 of the round")
    mmc: float | None = Field(description="latest published mmc of the round")
    score_day: int | None = Field(description="the daily score shown (20 = resolved)")
    scored_on: datetime | None
    payout: Money | None = Field(description="NMR paid or burnt (negative) on the stake")
    payout_settled: bool
    at_risk: Money | None
    resolved: bool
    submission_id: str | None


class WindowsOut(BaseModel):
    last_20: SummaryOut
    last_60: SummaryOut


class PerformanceOut(BaseModel):
    model_id: int
    name: str
    tournament: str
    owner: str | None
    stake: Money | None
    start_date: datetime | None
    age_days: int | None
    synced_at: datetime | None
    last_error: str | None
    total_payout: Money
    rounds: list[RoundOut] = Field(description="oldest round first")
    summaries: dict[str, WindowsOut] = Field(description='"corr" and "mmc"')


def _summary(s: Summary) -> SummaryOut:
    return SummaryOut(**s.__dict__)


def _performance(t: performance.TrackRecord) -> PerformanceOut:
    return PerformanceOut(
        model_id=t.model_id,
        name=t.name,
        tournament=t.tournament,
        owner=t.owner,
        stake=_money(t.stake),
        start_date=t.start_date,
        age_days=t.age_days,
        synced_at=t.synced_at,
        last_error=t.last_error,
        total_payout=Money.of(t.total_payout),
        rounds=[
            RoundOut(
                **{
                    **r.__dict__,
                    "payout": _money(r.payout),
                    "at_risk": _money(r.at_risk),
                }
            )
            for r in t.rounds
        ],
        summaries={
            metric: WindowsOut(last_20=_summary(w[20]), last_60=_summary(w[60]))
            for metric, w in t.summaries.items()
        },
    )


@router.get("/models/{model_id}/performance", response_model=PerformanceOut, tags=["reputation"])
def get_performance(model_id: Int64, request: Request) -> PerformanceOut:
    """The model's live scores and payouts per round as last synced from Numerai, its stake
    and age, and summaries over the last 20 and 60 scored rounds."""
    return _performance(performance.track_record(container(request), model_id))


@router.post(
    "/models/{model_id}/performance/sync", response_model=PerformanceOut, tags=["reputation"]
)
def sync_performance(
    model_id: Int64, request: Request, who: Principal = Depends(require(Scope.READ))
) -> PerformanceOut:
    """Sync the track record from Numerai now (a sync within the last minute is reused)."""
    return _performance(performance.sync_on_demand(container(request), model_id=model_id))


# ------------------------------------------------------------------ seller standing


class DeliveryOut(BaseModel):
    model_id: int
    model_name: str
    round_number: int
    deadline: datetime
    status: Literal["on_time", "late", "pending"]
    upload_id: int | None


class PenaltyOut(BaseModel):
    transfer_id: str
    amount: Money
    created_at: datetime


class EvidenceOut(BaseModel):
    fill_ids: list[int]
    rounds: list[DeliveryOut]
    checks_passed: list[int] = Field(description="fill ids")
    checks_failed: list[int] = Field(description="fill ids")
    non_deliveries: list[int] = Field(description="fill ids")
    penalties: list[PenaltyOut] = Field(description="ledger transfers")
    review_ids: list[int]


class ModelRefOut(BaseModel):
    id: int
    name: str
    tournament: str


class StandingOut(BaseModel):
    username: str
    member_since: datetime
    seller_since: datetime | None
    tenure_days: int
    models: list[ModelRefOut]
    fills: int
    volume: Money
    rounds_on_time: int
    rounds_late: int
    on_time_rate: float | None
    checks_passed: int
    checks_failed: int
    non_deliveries: int
    penalties_paid: Money
    penalties: int
    average_rating: float | None
    reviews: int
    evidence: EvidenceOut | None = Field(
        None, description="the records each figure counts (with ?evidence=true)"
    )


@router.get("/sellers/{username}/standing", response_model=StandingOut, tags=["reputation"])
def get_standing(username: str, request: Request, evidence: bool = False) -> StandingOut:
    """The seller's record on NMRX, computed from the exchange's own records."""
    s = standing.seller_standing(container(request), username=username)
    out = StandingOut(
        username=s.username,
        member_since=s.member_since,
        seller_since=s.seller_since,
        tenure_days=s.tenure_days,
        models=[ModelRefOut(id=i, name=n, tournament=t) for i, n, t in s.models],
        fills=s.fills,
        volume=Money.of(s.volume),
        rounds_on_time=s.on_time,
        rounds_late=s.late,
        on_time_rate=s.on_time_rate,
        checks_passed=len(s.checks_passed),
        checks_failed=len(s.checks_failed),
        non_deliveries=len(s.non_deliveries),
        penalties_paid=Money.of(s.penalties_paid),
        penalties=len(s.penalties),
        average_rating=s.average_rating,
        reviews=len(s.review_ids),
    )
    if evidence:
        out.evidence = EvidenceOut(
            fill_ids=s.fill_ids,
            rounds=[DeliveryOut(**r.__dict__) for r in s.rounds],
            checks_passed=s.checks_passed,
            checks_failed=s.checks_failed,
            non_deliveries=s.non_deliveries,
            penalties=[
                PenaltyOut(
                    transfer_id=p.transfer_id, amount=Money.of(p.amount), created_at=p.created_at
                )
                for p in s.penalties
            ],
            review_ids=s.review_ids,
        )
    return out


# ------------------------------------------------------------------ reviews

Rating = Annotated[StrictInt, BeforeValidator(_no_float)]


class ReviewIn(BaseModel):
    rating: Rating = Field(description="1 to 5")
    text: str = Field(description="1 to 2,000 characters")
    fill_id: Int64 | None = Field(
        None, description="the purchase reviewed; omitted: your oldest settled one not reviewed"
    )


class ReplyIn(BaseModel):
    text: str


class ReviewOut(BaseModel):
    id: int
    fill_id: int
    model_id: int
    model_name: str
    round_number: int
    mode: str
    outcome: str = Field(description="how the purchase settled: released or refunded")
    buyer: str
    seller: str
    rating: int
    text: str
    verified: bool = Field(description="always true: only buyers of a settled fill review")
    created_at: datetime
    reply: str | None
    replied_at: datetime | None


class ReviewableOut(BaseModel):
    fill_id: int
    round_number: int
    mode: str
    state: str
    created_at: datetime


def _review(v: reviews.ReviewView) -> ReviewOut:
    return ReviewOut(**v.__dict__)


@router.get("/models/{model_id}/reviews", response_model=list[ReviewOut], tags=["reputation"])
def model_reviews(model_id: Int64, request: Request) -> list[ReviewOut]:
    return [_review(v) for v in reviews.of_model(container(request), model_id=model_id)]


@router.get("/sellers/{username}/reviews", response_model=list[ReviewOut], tags=["reputation"])
def seller_reviews(username: str, request: Request) -> list[ReviewOut]:
    return [_review(v) for v in reviews.of_seller(container(request), username=username)]


@router.get(
    "/models/{model_id}/reviewable", response_model=list[ReviewableOut], tags=["reputation"]
)
def my_reviewable(
    model_id: Int64, request: Request, who: Principal = Depends(require(Scope.READ))
) -> list[ReviewableOut]:
    """Your settled purchases of the model that you have not reviewed yet."""
    rows = reviews.reviewable(container(request), user_id=who.user_id, model_id=model_id)
    return [ReviewableOut(**r.__dict__) for r in rows]


@router.post(
    "/models/{model_id}/reviews", response_model=ReviewOut, status_code=201, tags=["reputation"]
)
def post_review(
    model_id: Int64,
    body: ReviewIn,
    request: Request,
    who: Principal = Depends(require(Scope.TRADE)),
) -> ReviewOut:
    """Review a settled purchase (released or refunded) of the model: once per purchase."""
    return _review(
        reviews.create_review(
            container(request),
            user_id=who.user_id,
            model_id=model_id,
            rating=body.rating,
            text=body.text,
            fill_id=body.fill_id,
        )
    )


@router.post("/reviews/{review_id}/reply", response_model=ReviewOut, tags=["reputation"])
def post_reply(
    review_id: Int64,
    body: ReplyIn,
    request: Request,
    who: Principal = Depends(require(Scope.TRADE)),
) -> ReviewOut:
    """The seller of the reviewed purchase answers, once."""
    return _review(
        reviews.reply(container(request), user_id=who.user_id, review_id=review_id, text=body.text)
    )


# ------------------------------------------------------------------ discovery


class ListingOut(BaseModel):
    model_id: int
    mode: str
    model_name: str
    tournament: str
    seller: str | None
    open_books: int
    front_round: int | None
    lowest_ask: Money | None
    lowest_ask_round: int | None
    ask_quantity: int
    best_bid: Money | None
    last_price: Money | None
    last_sale_at: datetime | None
    trades: int
    volume: int = Field(description="units traded, all time (copies or NMR of allowance)")
    notional: Money = Field(description="NMR traded, all time")
    recent_notional: Money = Field(description="NMR traded in the recent trending window")
    prior_notional: Money = Field(description="NMR traded in the window before it")
    volume_change_bp: int | None
    price_change_bp: int | None = Field(
        description="change of the volume-weighted price between the two windows"
    )
    score_mean_20: float | None = Field(description="mean corr of the last 20 scored rounds")
    sharpe_20: float | None
    stake: Money | None
    seller_rating: float | None
    seller_reviews: int
    refreshed_at: datetime


class MarketPageOut(BaseModel):
    items: list[ListingOut]
    total: int
    page: int
    per_page: int
    pages: int
    sort: str
    order: str
    as_of: datetime | None = Field(description="when the oldest row shown was refreshed")


def _listing(i: discovery.Listing) -> ListingOut:
    return ListingOut(
        **{
            **i.__dict__,
            "lowest_ask": _money(i.lowest_ask),
            "best_bid": _money(i.best_bid),
            "last_price": _money(i.last_price),
            "notional": Money.of(i.notional),
            "recent_notional": Money.of(i.recent_notional),
            "prior_notional": Money.of(i.prior_notional),
            "stake": _money(i.stake),
            "volume_change_bp": i.volume_change_bp,
        }
    )


def _price(text: str | None) -> int | None:
    return parse_nmr(text) if text not in (None, "") else None


@router.get("/discover", response_model=MarketPageOut, tags=["discovery"])
def discover(
    request: Request,
    q: str | None = Query(None, description="part of a model or seller name"),
    tournament: Literal["classic", "signals"] | None = None,
    mode: Literal["file", "stake"] | None = None,
    min_price: str | None = Query(None, description='lowest ask at least, NMR text ("0.05")'),
    max_price: str | None = Query(None, description="lowest ask at most, NMR text"),
    has_asks: bool | None = Query(None, description="only markets with (or without) asks now"),
    sort: Literal[
        "lowest_ask", "last_sale", "volume", "score", "sharpe", "stake", "rating", "name"
    ] = "volume",
    order: Literal["asc", "desc"] | None = None,
    page: int = Query(1, ge=1, le=MAX_PAGE),
    per_page: int = Query(25, ge=1, le=discovery.MAX_PER_PAGE),
) -> MarketPageOut:
    """The market list: every listed model and mode, searched, filtered, sorted, paged."""
    result = discovery.list_markets(
        container(request),
        q=q,
        tournament=tournament,
        mode=mode,
        min_price=_price(min_price),
        max_price=_price(max_price),
        has_asks=has_asks,
        sort=sort,
        order=order,
        page=page,
        per_page=per_page,
    )
    return MarketPageOut(
        items=[_listing(i) for i in result.items],
        total=result.total,
        page=result.page,
        per_page=result.per_page,
        pages=result.pages,
        sort=result.sort,
        order=result.order,
        as_of=result.as_of,
    )


@router.get("/discover/trending", response_model=list[ListingOut], tags=["discovery"])
def get_trending(
    request: Request,
    tournament: Literal["classic", "signals"] | None = None,
    mode: Literal["file", "stake"] | None = None,
    limit: int = Query(20, ge=1, le=discovery.MAX_PER_PAGE),
) -> list[ListingOut]:
    """Markets by NMR traded over the recent rounds, with volume and price change."""
    rows = discovery.trending(container(request), tournament=tournament, mode=mode, limit=limit)
    return [_listing(i) for i in rows]
