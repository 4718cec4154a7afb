"""JSON API of the demo: move the emulator's clock (demo mode only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from nmrx.accounts.service import Principal
from nmrx.demo import control as clock
from nmrx.platform.api_deps import container, principal

router = APIRouter(prefix="/api/v1")


class DemoClockIn(BaseModel):
    to: str = Field(description="next_open, next_close or days")
    days: float = 1


class DemoClockOut(BaseModel):
    now: str
    round_number: int | None
    round_status: str | None
    duties: dict[str, str]


@router.post("/demo/clock", response_model=DemoClockOut, tags=["demo"])
def demo_clock(
    body: DemoClockIn, request: Request, who: Principal = Depends(principal)
) -> DemoClockOut:
    """Demo mode only: advance the Numerai emulator's clock and run the worker's duties now."""
    report = clock.advance(container(request), to=body.to, days=body.days)
    return DemoClockOut(**report.__dict__)
