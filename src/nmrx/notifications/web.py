"""HTML pages of notifications: what needs doing before which deadline, and what happened."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from nmrx.notifications import service as notifications
from nmrx.platform.api_deps import container
from nmrx.web.pages import render, to_login
from nmrx.web.session import current_user_id

router = APIRouter(include_in_schema=False)


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    return render(
        request,
        "notifications.html",
        notes=notifications.for_user(container(request), user_id=user_id),
    )
