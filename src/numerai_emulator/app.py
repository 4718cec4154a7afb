"""The emulator's HTTP surface (Starlette).

* ``POST /`` (and ``/graphql``) — the GraphQL API numerapi talks to.
* ``PUT /uploads/{token}`` — the "presigned" upload URL handed out by the upload auth
  queries (stands in for S3).
* ``GET /datasets/{tournament}/{round}/{filename}`` — dataset downloads (supports
  ``Range: bytes=N-`` so numerapi can resume).
* ``GET /submissions/{id}/{token}`` — download of a submitted file.
* ``/admin/...`` — the admin API (see ``admin.py``), behind the admin token.
* ``GET /healthz`` — liveness.
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import errors, graphql_api, universe
from .admin import admin_routes
from .world import DEFAULT_ADMIN_TOKEN, World

log = logging.getLogger(__name__)
GRAPHQL_PATHS = ("/", "/graphql")


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def create_app(world: World, *, admin_token: str = DEFAULT_ADMIN_TOKEN) -> ASGIApp:
    async def graphql(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"null")
        except json.JSONDecodeError:
            return JSONResponse({"errors": [{"message": "Body must be JSON"}]}, status_code=400)
        result = await run_in_threadpool(
            graphql_api.run,
            world,
            body,
            base_url=_base_url(request),
            auth_header=request.headers.get("authorization"),
        )
        return JSONResponse(result)

    async def info(request: Request) -> Response:
        return JSONResponse(
            {
                "service": "numerai-emulator",
                "graphql": f"{_base_url(request)}/",
                "now": world.now().isoformat(),
                "seed": world.seed,
            }
        )

    async def health(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def upload(request: Request) -> Response:
        content = await request.body()
        if not world.receive_upload(request.path_params["token"], content):
            return PlainTextResponse("AccessDenied: unknown or used upload URL", status_code=403)
        return Response(status_code=200)

    async def dataset(request: Request) -> Response:
        params = request.path_params
        tournament, number = params["tournament"], params["round"]
        if number > world.current_round().number:
            return PlainTextResponse("NoSuchKey", status_code=404)
        try:
            content = await run_in_threadpool(
                universe.dataset_bytes, world.seed, tournament, number, params["filename"]
            )
        except (KeyError, ValueError):
            return PlainTextResponse("NoSuchKey", status_code=404)
        return _ranged(request, content)

    async def download_submission(request: Request) -> Response:
        sub = world.submissions.get(request.path_params["submission_id"])
        token = request.path_params["token"]
        if sub is None or token != graphql_api.download_token(world, sub.id):
            return PlainTextResponse("AccessDenied", status_code=403)
        return _ranged(request, sub.content)

    routes = [
        Route("/", graphql, methods=["POST"]),
        Route("/graphql", graphql, methods=["POST"]),
        Route("/", info, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/uploads/{token}", upload, methods=["PUT"]),
        Route(
            "/datasets/{tournament:int}/{round:int}/{filename:path}",
            dataset,
            methods=["GET", "HEAD"],
        ),
        Route("/submissions/{submission_id}/{token}", download_submission, methods=["GET"]),
        Mount("/admin", routes=admin_routes(world, admin_token)),
    ]
    app = Starlette(routes=routes)
    app.state.world = world
    return FaultInjector(app, world)


def _ranged(request: Request, content: bytes) -> Response:
    headers = {"Accept-Ranges": "bytes"}
    spec = request.headers.get("range", "")
    if spec.startswith("bytes=") and spec[6:].endswith("-") and spec[6:-1].isdigit():
        start = int(spec[6:-1])
        if start < len(content):
            headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
            return Response(
                content[start:],
                status_code=206,
                headers=headers,
                media_type="application/octet-stream",
            )
    return Response(content, headers=headers, media_type="application/octet-stream")


class FaultInjector:
    """Outermost ASGI layer: applies the world's injected faults to GraphQL calls."""

    def __init__(self, app: ASGIApp, world: World) -> None:
        self.app = app
        self.world = world

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] not in GRAPHQL_PATHS
        ):
            await self.app(scope, receive, send)
            return
        decision = self.world.faults.decide()
        if decision.latency:
            await asyncio.sleep(decision.latency)
        if decision.action == "503":
            response = JSONResponse(
                {"errors": [{"message": errors.UNAVAILABLE}]},
                status_code=503,
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
        elif decision.action == "error":
            await JSONResponse({"data": None, "errors": [{"message": errors.UNAVAILABLE}]})(
                scope, receive, send
            )
        elif decision.action == "drop":
            await _drop_connection(send)
        else:
            await self.app(scope, receive, send)


async def _drop_connection(send: Send) -> None:
    """Close the TCP connection without answering (uvicorn's transport, reached through
    its ``send``); elsewhere fall back to an exception, which the server turns into 500."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAbortedError("injected connection drop")
    transport.abort()
    for _ in range(5):  # let the server notice the disconnection before we return
        await asyncio.sleep(0.01)
