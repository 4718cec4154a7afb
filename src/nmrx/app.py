"""The ASGI application: JSON API under /api/v1 and the HTML pages, one process."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from nmrx import __version__
from nmrx.accounts import api as v1
from nmrx.delivery import api as delivery
from nmrx.delivery import web as buyer_routes
from nmrx.market import api as market_api
from nmrx.market import web as market_routes
from nmrx.platform.bootstrap import Container
from nmrx.platform.bounds import bounded_numbers
from nmrx.platform.errors import ServiceError, Unauthorized
from nmrx.reputation import api as reputation_api
from nmrx.reputation import web as discovery_web
from nmrx.sellers import api as sellers
from nmrx.sellers import web as seller_routes
from nmrx.settlement import api as settlement
from nmrx.wallet.money import InvalidAmount
from nmrx.web import routes as web
from nmrx.worker import Worker


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def create_app(container: Container) -> FastAPI:
    app = FastAPI(
        title="NMRX — the Numerai prediction exchange",
        version=__version__,
        docs_url="/api/docs",
        openapi_url="/api/v1/openapi.json",
        redoc_url=None,
        dependencies=[Depends(bounded_numbers)],  # ids past 2⁶³−1: 404/422, not 500
    )
    app.state.container = container
    worker = Worker(container)
    container.wake_worker = worker.process_deliveries
    app.state.demo_logins = []
    app.add_middleware(
        SessionMiddleware,
        secret_key=container.settings.secret_key,
        session_cookie="nmrx_session",
        max_age=container.settings.session_max_age_seconds,
        same_site="lax",
        https_only=container.settings.secure_cookies,
    )
    app.mount(
        "/static",
        StaticFiles(directory=str(Path(__file__).parent / "web" / "static")),
        name="static",
    )
    app.include_router(v1.router)
    app.include_router(sellers.router)
    app.include_router(market_api.router)
    app.include_router(delivery.router)
    app.include_router(settlement.router)
    app.include_router(reputation_api.router)
    app.include_router(web.router)
    app.include_router(seller_routes.router)
    app.include_router(buyer_routes.router)
    app.include_router(discovery_web.router)
    app.include_router(market_routes.router)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        if not _wants_json(request):
            if isinstance(exc, Unauthorized):
                return web.to_login(request)
            return web.render(request, "error.html", status_code=exc.status, error=exc.message)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(InvalidAmount)
    async def invalid_amount(request: Request, exc: InvalidAmount) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        return JSONResponse({"error": "; ".join(problems), "details": problems}, status_code=422)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return RedirectResponse("/static/favicon.svg")

    return app
