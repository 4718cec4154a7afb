"""HTML pages of the demo: the clock control (demo mode only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nmrx.demo import control as demo_clock
from nmrx.platform.api_deps import container
from nmrx.platform.errors import ServiceError
from nmrx.web.pages import render, to_login
from nmrx.web.session import csrf_protect, current_user_id, flash

router = APIRouter(include_in_schema=False)


@router.get("/demo", response_class=HTMLResponse)
def demo_page(request: Request) -> Response:
    c = container(request)
    if not c.settings.demo:
        return render(
            request,
            "error.html",
            status_code=404,
            error="the demo control exists only in demo mode",
        )
    return render(request, "demo.html", clock=demo_clock.status(c))


@router.post("/demo/clock", dependencies=[Depends(csrf_protect)])
def demo_clock_move(request: Request, to: str = Form(...), days: str = Form("1")) -> Response:
    if current_user_id(request) is None:
        return to_login(request)
    try:
        report = demo_clock.advance(container(request), to=to, days=float(days or 1))
        flash(
            request,
            f"Clock moved: {demo_clock.MOVES[to]}. Now {report.now[:16].replace('T', ' ')} UTC, round {report.round_number} {str(report.round_status).lower()}. Deliveries and settlements ran.",
            "success",
        )
    except (ServiceError, ValueError) as exc:
        flash(request, getattr(exc, "message", str(exc)), "error")
    back = request.headers.get("referer", "/demo")
    return RedirectResponse(
        back if back.startswith(str(request.base_url)) else "/demo", status_code=303
    )
