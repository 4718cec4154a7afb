"""JSON API of notifications: what needs doing before which deadline, and what happened."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from nmrx.accounts.rules import Scope
from nmrx.accounts.service import Principal
from nmrx.notifications import service as notifications
from nmrx.platform.api_deps import container, require

router = APIRouter(prefix="/api/v1")


class NotificationOut(BaseModel):
    kind: str
    title: str
    body: str
    at: datetime
    deadline: datetime | None
    link: str | None


@router.get("/notifications", response_model=list[NotificationOut], tags=["notifications"])
def my_notifications(
    request: Request, who: Principal = Depends(require(Scope.READ))
) -> list[NotificationOut]:
    """What needs doing before which deadline (first), then what happened, newest first."""
    return [
        NotificationOut(**n.__dict__)
        for n in notifications.for_user(container(request), user_id=who.user_id)
    ]
