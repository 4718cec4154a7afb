"""The ASGI application: JSON API under /api/v1 and the HTML pages, one process."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from nmrx import __version__
from nmrx.accounts import api as accounts_api
from nmrx.accounts import web as accounts_web
from nmrx.delivery import api as delivery_api
from nmrx.delivery import web as delivery_web
from nmrx.demo import api as demo_api
from nmrx.demo import web as demo_web
from nmrx.market import api as market_api
from nmrx.market import web as market_web
from nmrx.notifications import api as notifications_api
from nmrx.notifications import web as notifications_web
from nmrx.operator import web as operator_web
from nmrx.platform import api_docs
from nmrx.platform.bootstrap import Container
from nmrx.platform.bounds import bounded_numbers
from nmrx.platform.errors import ServiceError, TooManyRequests, Unauthorized
from nmrx.platform.http_edge import BodyLimit, SecurityHeaders, docs_router
from nmrx.reputation import api as reputation_api
from nmrx.reputation import web as reputation_web
from nmrx.sellers import api as sellers_api
from nmrx.sellers import web as sellers_web
from nmrx.settlement import api as settlement_api
from nmrx.settlement import web as settlement_web
from nmrx.wallet import api as wallet_api
from nmrx.wallet import web as wallet_web
from nmrx.wallet.money import InvalidAmount
from nmrx.web.pages import render, to_login

# Every feature's routes, in one place: the JSON API (its order is the OpenAPI document's)
# and the HTML pages. Each feature keeps its own in ``<feature>/api.py`` and ``<feature>/web.py``.
ROUTERS: tuple[APIRouter, ...] = (
    accounts_api.router,
    wallet_api.router,
    demo_api.router,
    sellers_api.router,
    market_api.router,
    delivery_api.router,
    settlement_api.router,
    notifications_api.router,
    reputation_api.router,
    accounts_web.router,
    wallet_web.router,
    demo_web.router,
    sellers_web.router,
    delivery_web.router,
    settlement_web.router,
    notifications_web.router,
    reputation_web.router,
    market_web.router,
    operator_web.router,
)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


_ERROR_PAGES = {
    404: ("Page not found", "There is no page at this address."),
    405: ("Page not found", "There is no page at this address."),
    422: ("That did not work", "Some of what was sent could not be read: go back and try again."),
    500: ("Something went wrong", "Something went wrong on our side; nothing was charged."),
}


def _error_page(status: int) -> dict[str, str]:
    heading, error = _ERROR_PAGES.get(status, ("That did not work", "That request failed."))
    return {"heading": heading, "error": error}


def create_app(container: Container) -> FastAPI:
    app = FastAPI(
        title="NMRX — the Numerai prediction exchange",
        version=__version__,
        docs_url=None,  # served by http_edge.docs_router from local assets
        openapi_url="/api/v1/openapi.json",
        redoc_url=None,
        dependencies=[Depends(bounded_numbers)],  # ids past 2⁶³−1: 404/422, not 500
    )
    app.state.container = container
    app.state.demo_logins = []
    app.add_middleware(
        SessionMiddleware,
        secret_key=container.settings.signing_key,
        session_cookie="nmrx_session",
        max_age=container.settings.session_max_age_seconds,
        same_site="lax",
        https_only=container.settings.cookie_secure,
    )
    settings = container.settings
    app.add_middleware(
        BodyLimit,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(SecurityHeaders, https=settings.base_url.startswith("https://"))
    app.mount(
        "/static",
        StaticFiles(directory=str(Path(__file__).parent / "web" / "static")),
        name="static",
    )
    api_docs.document(ROUTERS)  # every status each route answers, with the error model
    for router in (*ROUTERS, docs_router):
        app.include_router(router)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else {}
        if not _wants_json(request):
            if isinstance(exc, Unauthorized):
                return to_login(request)
            page = render(
                request,
                "error.html",
                status_code=exc.status,
                heading=_error_page(exc.status)["heading"],
                error=exc.message,
            )
            page.headers.update(headers)
            return page
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers or None)

    @app.exception_handler(InvalidAmount)
    async def invalid_amount(request: Request, exc: InvalidAmount) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_json(request):  # the API's error shape
            return JSONResponse(
                {"error": api_docs.http_error_message(exc.status_code, str(exc.detail))},
                status_code=exc.status_code,
                headers=exc.headers,
            )
        page = render(
            request, "error.html", status_code=exc.status_code, **_error_page(exc.status_code)
        )
        page.headers.update(exc.headers or {})
        return page

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        if _wants_json(request):
            return PlainTextResponse("Internal Server Error", status_code=500)
        return render(request, "error.html", status_code=500, **_error_page(500))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                problems.append(api_docs.json_problem(await request.body(), err.get("loc", ())))
                continue
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        if not _wants_json(request):
            # /models/abc is a page that does not exist; a mangled form is a 422 page
            if any(err.get("loc", ("",))[0] == "path" for err in exc.errors()):
                return render(request, "error.html", status_code=404, **_error_page(404))
            page = _error_page(422)
            page["error"] += f" ({'; '.join(problems)})"
            return render(request, "error.html", status_code=422, **page)
        return JSONResponse({"error": "; ".join(problems), "details": problems}, status_code=422)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return RedirectResponse("/static/favicon.svg")

    return app
