"""The shell every page shares: the templates, :func:`render` (the layout's context: the
session's user, the CSRF token, flashes, demo mode) and :func:`to_login`. The pages
themselves live with their feature (``accounts/web.py``, ``wallet/web.py``, …)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from nmrx.platform.api_deps import container
from nmrx.wallet.money import format_nmr
from nmrx.web.session import csrf_token, current_username, flash, pop_flashes

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["nmr"] = format_nmr


def render(request: Request, name: str, status_code: int = 200, **context: object) -> HTMLResponse:
    c = container(request)
    base = {
        "request": request,
        "csrf_token": csrf_token(request),
        "user": current_username(request),
        "demo": c.settings.demo,
        "demo_logins": getattr(request.app.state, "demo_logins", []),
        "flashes": pop_flashes(request),
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def to_login(request: Request) -> RedirectResponse:
    flash(request, "Please log in first.", "error")
    here = request.url.path
    if request.method == "GET" and request.url.query:
        here += "?" + request.url.query  # a page by address comes back with its choices
    return RedirectResponse(f"/login?{urlencode({'next': here}, safe='/')}", status_code=303)
