"""HTML pages for buyers' deliveries: what arrived, what is waiting, downloads."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from nmrx.delivery import downloads
from nmrx.delivery import service as delivery
from nmrx.platform.api_deps import container
from nmrx.platform.bounds import Int64
from nmrx.platform.errors import ServiceError
from nmrx.platform.filenames import content_disposition
from nmrx.web.pages import render, to_login
from nmrx.web.session import current_user_id

router = APIRouter(include_in_schema=False)


@router.get("/deliveries", response_class=HTMLResponse)
def deliveries_page(request: Request) -> Response:
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    return render(
        request,
        "deliveries.html",
        deliveries=delivery.deliveries_for(container(request), user_id=user_id),
    )


@router.get("/deliveries/{fill_id}/download")
def download(request: Request, fill_id: Int64) -> Response:
    """Browser download: the session's user, a fresh signed link, used at once and logged.
    A refusal answers with its own status (404 for a Stake Mode file or another's fill)."""
    user_id = current_user_id(request)
    if user_id is None:
        return to_login(request)
    c = container(request)
    try:
        link = downloads.create_link(c, user_id=user_id, fill_id=fill_id)
        token = link.url.rsplit("/", 1)[-1]
        got = downloads.fetch(c, user_id=user_id, token=token)
    except ServiceError as exc:
        return render(request, "error.html", status_code=exc.status, error=exc.message)
    return Response(
        got.content,
        media_type=got.media_type,
        headers={
            "Content-Disposition": content_disposition(got.filename),
            "Cache-Control": "no-store",
        },
    )
