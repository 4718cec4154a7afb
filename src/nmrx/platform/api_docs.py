"""The JSON API's error answers, documented: one error model and, per route, every status it
can answer.

Every refusal of ``/api/v1`` has the shape app.py's handlers send: ``{"error": "..."}``, plus
``"details"`` (one line per problem) for a 422 of request validation. :func:`document`
writes that into each route's ``responses`` from what the route is made of, so a new route
is documented by its dependencies without a list to keep:

* a bearer token (``HTTPBearer``) → 401 (no or a bad token) and 403 (the token lacks a
  scope, or the resource is not the caller's);
* a path parameter → 404 (nothing has that id; ids past 2⁶³−1 too, platform/bounds.py);
* any parameter or a body → 422 (the request does not validate);
* a body → 413 (larger than the exchange accepts);
* a rate-limit dependency (platform/rate_limit.py) → 429 with ``Retry-After``;
* a write by a signed-in caller (POST, PUT, DELETE) → 409 (it conflicts with the state:
  funds, an order already closed, a name taken…);
* a route in :data:`EXTRA` → the statuses listed there (503 when Numerai is unavailable,
  429 for event streams, 409 for public reads that name the round calendar…).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every error the JSON API answers."""

    error: str = Field(description="what went wrong, in words", examples=["invalid API token"])
    details: list[str] | None = Field(
        default=None,
        description="one line per problem (422 of request validation only)",
        examples=[["quantity: must be a whole number, not 1.5"]],
    )


DESCRIPTIONS: dict[int, str] = {
    400: "Bad request",
    401: "Not authenticated: no API token, or an invalid or revoked one",
    403: "Forbidden: the token lacks the scope this needs, or the account may not do this",
    404: "Not found: nothing with that id (or it is not yours to see)",
    409: "Conflict with the current state (funds, an order already closed, a name taken…)",
    413: "The request body is larger than the exchange accepts",
    422: "The request is not valid: see `error` and `details`",
    429: "Too many requests: try again after `Retry-After` seconds",
    503: "Numerai is unavailable: nothing was changed, try again later",
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds until the limit allows again",
        "schema": {"type": "integer"},
    }
}

# Statuses a route answers that its dependencies do not show: (method, path) → statuses.
EXTRA: dict[tuple[str, str], tuple[int, ...]] = {
    ("POST", "/api/v1/numerai-keys"): (503,),
    ("POST", "/api/v1/models/verifications"): (404, 503),  # no such model on Numerai
    ("POST", "/api/v1/models/verifications/{code_id}/check"): (503,),
    ("DELETE", "/api/v1/models/{model_id}/ownership"): (503,),
    # the form is read by the route (after the token): an unreadable one is a 400, and the
    # body limit answers 413 before anything is read
    ("POST", "/api/v1/models/{model_id}/uploads"): (400, 413, 503),
    ("POST", "/api/v1/models/{model_id}/performance/sync"): (503,),
    ("GET", "/api/v1/markets"): (503,),
    ("GET", "/api/v1/instruments"): (503,),
    ("POST", "/api/v1/auth/tokens"): (401, 403),  # a wrong password; a suspended account
    ("POST", "/api/v1/orders"): (404, 503),  # the instrument named in the body
    ("POST", "/api/v1/orders/buy-now"): (404, 503),
    ("POST", "/api/v1/orders/sell-now"): (404, 503),
    ("GET", "/api/v1/webhook"): (404,),  # the caller has no webhook
    ("DELETE", "/api/v1/webhook"): (404,),
    ("POST", "/api/v1/webhook/secret"): (404,),
    ("GET", "/api/v1/instruments/{instrument_id}/stream"): (429,),
    ("GET", "/api/v1/fills/stream"): (429,),
}


def _calls(dependant: Dependant) -> Iterator[Any]:
    stack = list(dependant.dependencies)
    while stack:
        d = stack.pop()
        yield d.call
        stack.extend(d.dependencies)


def statuses(route: APIRoute, path: str | None = None) -> set[int]:
    """Every error status ``route`` (served at ``path``, its own by default) can answer, from
    what it is made of."""
    calls = list(_calls(route.dependant))
    authenticated = any(isinstance(call, HTTPBearer) for call in calls)
    rate_limited = any(
        getattr(call, "__module__", "") == "nmrx.platform.rate_limit" for call in calls
    )
    methods = route.methods or set()
    d = route.dependant
    has_params = bool(d.path_params or d.query_params or d.header_params or d.body_params)
    found: set[int] = set()
    if authenticated:
        found |= {401, 403}
        if methods & {"POST", "PUT", "PATCH", "DELETE"}:
            found.add(409)
    if d.path_params:
        found.add(404)
    if has_params:
        found.add(422)
    if d.body_params:
        found |= {400, 413, 422}  # 400: a body that cannot be read at all
    if rate_limited:
        found.add(429)
    for method in methods:
        found.update(EXTRA.get((method, path or route.path), ()))
    return found


def responses_for(codes: Iterable[int]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of the error statuses ``codes``, all with :class:`ErrorBody`."""
    answers: dict[int | str, dict[str, Any]] = {}
    for code in sorted(codes):
        answer: dict[str, Any] = {"model": ErrorBody, "description": DESCRIPTIONS[code]}
        if code == 429:
            answer["headers"] = _RETRY_AFTER
        answers[code] = answer
    return answers


def json_problem(body: bytes, loc: Iterable[object]) -> str:
    """A malformed JSON body in words, where it went wrong as a line and column (pydantic
    says "1: JSON decode error", 1 being an offset in the body)."""
    offset = next((p for p in loc if isinstance(p, int)), None)
    if offset is None:
        return "the request body is not valid JSON"
    before = body.decode("utf-8", errors="replace")[:offset]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1 if "\n" in before else 0) + 1
    return f"the request body is not valid JSON (line {line}, column {column})"


def _api_routes(router: object, prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every route of a router with the path it is served at (included routers too)."""
    for route in getattr(router, "routes", []):
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            inner = getattr(route.include_context, "prefix", "")
            yield from _api_routes(route.original_router, prefix + inner)


_HTTP_ERRORS = {
    400: "the request body could not be read: send JSON (UTF-8) or a form as documented",
    404: "no such API route: see /api/v1/openapi.json",
    405: "this API route does not take that method: see /api/v1/openapi.json",
}


def http_error_message(status: int, detail: str) -> str:
    """The words for an error the framework answers itself (an unreadable body, an unknown
    route), in place of its own ("There was an error parsing the body", "Not Found")."""
    return _HTTP_ERRORS.get(status, detail)


def document(routers: Iterable[APIRouter]) -> None:
    """Write every error status of each JSON API route into its ``responses`` (once, before
    the routers are included in an app; a route's own ``responses`` win)."""
    for router in routers:
        for path, route in _api_routes(router):
            if route.include_in_schema:
                route.responses = {**responses_for(statuses(route, path)), **route.responses}
