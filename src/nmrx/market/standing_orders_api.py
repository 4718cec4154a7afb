"""JSON API of listings: sellers' ask ladders and buyers' standing bids."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Request

from nmrx.accounts.rules import Scope
from nmrx.accounts.service import Principal
from nmrx.market import standing_orders as listings
from nmrx.market.orders import Side
from nmrx.market.schemas import LadderIn, StandingBidIn, StandingOut, standing_out
from nmrx.platform.api_deps import container, require
from nmrx.platform.bounds import Int64

router = APIRouter()


@router.get("/ladders", response_model=list[StandingOut], tags=["listings"])
def my_ladders(
    request: Request, who: Principal = Depends(require(Scope.READ))
) -> list[StandingOut]:
    rows = listings.list_standing(container(request), user_id=who.user_id, side=Side.ASK)
    return [standing_out(s) for s in rows]


@router.put("/ladders", response_model=StandingOut, tags=["listings"])
def set_ladder(
    body: LadderIn, request: Request, who: Principal = Depends(require(Scope.TRADE))
) -> StandingOut:
    """Create or replace your ask ladder for a model and mode (a listing): its levels are
    placed in each new round's book; a new ladder also goes into the open books."""
    view = listings.set_ladder(
        container(request),
        user_id=who.user_id,
        model_id=body.model_id,
        mode=body.mode,
        levels=[(lv.quantity, lv.units()) for lv in body.levels],
        apply_to_open=body.apply_to_open,
    )
    return standing_out(view)


@router.get("/standing-bids", response_model=list[StandingOut], tags=["listings"])
def my_standing_bids(
    request: Request, who: Principal = Depends(require(Scope.READ))
) -> list[StandingOut]:
    rows = listings.list_standing(container(request), user_id=who.user_id, side=Side.BID)
    return [standing_out(s) for s in rows]


@router.post("/standing-bids", response_model=StandingOut, status_code=201, tags=["listings"])
def create_standing_bid(
    body: StandingBidIn, request: Request, who: Principal = Depends(require(Scope.TRADE))
) -> StandingOut:
    """Bid in the next ``rounds`` rounds' books (or until cancelled)."""
    view = listings.create_standing_bid(
        container(request),
        user_id=who.user_id,
        model_id=body.model_id,
        mode=body.mode,
        quantity=body.quantity,
        price=body.units(),
        rounds=body.rounds,
        slot_model_id=body.slot_model_id,
    )
    return standing_out(view)


def _standing_route(kind: str, action: str) -> Callable[..., StandingOut]:
    service = {"pause": listings.pause, "resume": listings.resume, "cancel": listings.cancel}[
        action
    ]

    def route(
        standing_id: Int64, request: Request, who: Principal = Depends(require(Scope.TRADE))
    ) -> StandingOut:
        return standing_out(
            service(container(request), user_id=who.user_id, standing_id=standing_id)
        )

    route.__name__ = f"{action}_{kind.replace('-', '_')}"
    return route


for _kind in ("ladders", "standing-bids"):
    for _action in ("pause", "resume"):
        router.add_api_route(
            f"/{_kind}/{{standing_id}}/{_action}",
            _standing_route(_kind, _action),
            methods=["POST"],
            response_model=StandingOut,
            tags=["listings"],
        )
    router.add_api_route(
        f"/{_kind}/{{standing_id}}",
        _standing_route(_kind, "cancel"),
        methods=["DELETE"],
        response_model=StandingOut,
        tags=["listings"],
    )
