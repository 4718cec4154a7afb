"""The authorisation matrix, generated from the app's route table.

Every route of the app has a rule in :data:`RULES` (a new route without one fails
:func:`test_every_route_has_a_rule`); public routes are listed as such. Each route that
touches a user's resource is then asked by an anonymous visitor, by a token without the
scope the rule names, and (for a resource of one user) by another user, and must refuse:
401 for the anonymous API caller, 403 for the missing scope, 403/404 for another user; the
pages send an anonymous visitor to log in and answer another user 403/404.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from nmrx.accounts import service as accounts
from nmrx.accounts.rules import Scope
from nmrx.app import create_app
from nmrx.delivery import downloads
from nmrx.platform.bootstrap import Container
from nmrx.sellers.tables import NumeraiApiKey
from numerai_emulator import EmulatorServer
from tests.support.builders import bearer, csrf_token, make_token, make_user
from tests.support.trading import Scenario


@dataclass(frozen=True)
class Rule:
    kind: (
        str  # "public", "account" (the caller's own), "owned" (a resource in the path), "operator"
    )
    scope: Scope | None = None  # the API token scope the route needs (None: any token)
    resource: str | None = None  # "owned": the path parameter naming the owner's resource


PUBLIC = Rule("public")
OPERATOR = Rule("operator")


def account(scope: Scope | None = None) -> Rule:
    return Rule("account", scope)


def owned(scope: Scope | None, resource: str) -> Rule:
    return Rule("owned", scope, resource)


R, T, U, TOK = Scope.READ, Scope.TRADE, Scope.UPLOAD, Scope.TOKENS

RULES: dict[str, Rule] = {
    # JSON API
    "POST /api/v1/auth/register": PUBLIC,
    "POST /api/v1/auth/tokens": PUBLIC,  # a password buys a token
    "GET /api/v1/me": account(),
    "GET /api/v1/tokens": account(R),
    "POST /api/v1/tokens": account(TOK),
    "DELETE /api/v1/tokens/{token_id}": owned(TOK, "token_id"),
    "DELETE /api/v1/sessions": account(TOK),
    "GET /api/v1/wallet": account(R),
    "GET /api/v1/wallet/history": account(R),
    "POST /api/v1/wallet/faucet": account(T),
    "POST /api/v1/wallet/withdrawals": account(T),
    "POST /api/v1/demo/clock": account(),
    "GET /api/v1/numerai-keys": account(R),
    "POST /api/v1/numerai-keys": account(T),
    "DELETE /api/v1/numerai-keys/{key_id}": owned(T, "key_id"),
    "POST /api/v1/models/verifications": account(T),
    "GET /api/v1/models/verifications": account(R),
    "POST /api/v1/models/verifications/{code_id}/check": owned(T, "code_id"),
    "GET /api/v1/models/mine": account(R),
    "DELETE /api/v1/models/{model_id}/ownership": owned(T, "model_id"),
    "GET /api/v1/sellers/{username}": PUBLIC,
    "GET /api/v1/collateral": account(R),
    "POST /api/v1/collateral/lock": account(T),
    "POST /api/v1/collateral/unlock": account(T),
    "GET /api/v1/ladders": account(R),
    "PUT /api/v1/ladders": account(T),
    "GET /api/v1/standing-bids": account(R),
    "POST /api/v1/standing-bids": account(T),
    "POST /api/v1/ladders/{standing_id}/pause": owned(T, "standing_id"),
    "POST /api/v1/ladders/{standing_id}/resume": owned(T, "standing_id"),
    "DELETE /api/v1/ladders/{standing_id}": owned(T, "standing_id"),
    "POST /api/v1/standing-bids/{standing_id}/pause": owned(T, "standing_id"),
    "POST /api/v1/standing-bids/{standing_id}/resume": owned(T, "standing_id"),
    "DELETE /api/v1/standing-bids/{standing_id}": owned(T, "standing_id"),
    "GET /api/v1/markets": PUBLIC,
    "GET /api/v1/instruments": PUBLIC,
    "GET /api/v1/instruments/{instrument_id}": PUBLIC,
    "GET /api/v1/instruments/{instrument_id}/book": PUBLIC,
    "GET /api/v1/instruments/{instrument_id}/trades": PUBLIC,
    "GET /api/v1/instruments/{instrument_id}/stream": PUBLIC,
    "GET /api/v1/models/{model_id}/price-history": PUBLIC,
    "POST /api/v1/orders": account(T),
    "POST /api/v1/orders/buy-now": account(T),
    "POST /api/v1/orders/sell-now": account(T),
    "GET /api/v1/orders": account(R),
    "GET /api/v1/orders/by-client-id/{client_order_id}": owned(R, "client_order_id"),
    "GET /api/v1/orders/{order_id}": owned(R, "order_id"),
    "DELETE /api/v1/orders/{order_id}": owned(T, "order_id"),
    "POST /api/v1/models/{model_id}/uploads": owned(U, "model_id"),
    "GET /api/v1/uploads": account(R),
    "GET /api/v1/deliveries": account(R),
    "POST /api/v1/fills/{fill_id}/download-link": owned(R, "fill_id"),
    "GET /api/v1/downloads/{token}": owned(None, "token"),
    "PUT /api/v1/webhook": account(T),
    "POST /api/v1/webhook/secret": account(T),
    "GET /api/v1/webhook": account(R),
    "DELETE /api/v1/webhook": account(T),
    "GET /api/v1/webhook/calls": account(R),
    "GET /api/v1/fills": account(R),
    "GET /api/v1/fills/{fill_id}/timeline": owned(R, "fill_id"),
    "GET /api/v1/fills/stream": account(R),
    "GET /api/v1/notifications": account(R),
    "GET /api/v1/models/{model_id}/performance": PUBLIC,
    "POST /api/v1/models/{model_id}/performance/sync": account(R),  # any model, rate-limited
    "GET /api/v1/sellers/{username}/standing": PUBLIC,
    "GET /api/v1/models/{model_id}/reviews": PUBLIC,
    "GET /api/v1/sellers/{username}/reviews": PUBLIC,
    "GET /api/v1/models/{model_id}/reviewable": account(R),  # the caller's own fills of it
    "POST /api/v1/models/{model_id}/reviews": account(T),  # needs a settled fill of the caller
    "POST /api/v1/reviews/{review_id}/reply": owned(T, "review_id"),
    "GET /api/v1/discover": PUBLIC,
    "GET /api/v1/discover/trending": PUBLIC,
    # pages
    "GET /healthz": PUBLIC,
    "GET /api/docs": PUBLIC,
    "GET /favicon.ico": PUBLIC,
    "GET /": PUBLIC,
    "GET /register": PUBLIC,
    "POST /register": PUBLIC,
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "POST /logout": account(),
    "POST /logout-everywhere": account(),
    "GET /tokens": account(),
    "POST /tokens": account(),
    "POST /tokens/{token_id}/revoke": owned(None, "token_id"),
    "GET /wallet": account(),
    "POST /wallet/faucet": account(),
    "POST /wallet/withdraw": account(),
    "GET /demo": PUBLIC,  # the demo's landing page
    "POST /demo/clock": account(),
    "GET /sell": account(),
    "POST /sell/models/{model_id}/upload": owned(None, "model_id"),
    "POST /sell/verifications": account(),
    "POST /sell/verifications/{code_id}/check": owned(None, "code_id"),
    "POST /sell/models/{model_id}/release": owned(None, "model_id"),
    "GET /numerai-keys": account(),
    "POST /numerai-keys": account(),
    "POST /numerai-keys/{key_id}/delete": owned(None, "key_id"),
    "POST /collateral/{action}": account(),
    "GET /sellers/{username}": PUBLIC,
    "GET /deliveries": account(),
    "GET /deliveries/{fill_id}/download": owned(None, "fill_id"),
    "GET /portfolio": account(),
    "GET /sales": account(),
    "GET /fills/stream": account(),
    "GET /fills/{fill_id}": owned(None, "fill_id"),
    "GET /notifications": account(),
    "GET /markets": PUBLIC,
    "GET /models/{model_id}/track-record": PUBLIC,
    "POST /models/{model_id}/track-record/sync": account(),
    "POST /models/{model_id}/reviews": account(),
    "POST /reviews/{review_id}/reply": owned(None, "review_id"),
    "GET /models/{model_id}": PUBLIC,
    "POST /models/{model_id}/order/preview": account(),
    "GET /models/{model_id}/order/preview": account(),  # the review after a login's return
    "POST /models/{model_id}/order/confirm": account(),
    "POST /models/{model_id}/ladder": owned(None, "model_id"),
    "POST /orders/{order_id}/cancel": owned(None, "order_id"),
    "GET /operator": OPERATOR,
    "GET /operator/accounts/{user_id}": OPERATOR,
    "POST /operator/accounts/{user_id}/suspend": OPERATOR,
    "POST /operator/accounts/{user_id}/reinstate": OPERATOR,
    "GET /operator/audit": OPERATOR,
}

# Resources the scenario below does not make (each needs a settled round, a review or a
# pending verification): their routes are still checked anonymously and without the scope,
# and against another user with an id that is not theirs.
NOT_MADE = {"code_id", "standing_id", "review_id"}

# Bodies that get a request past validation to the route's own checks (where the scope is
# checked in the route, or the body is parsed before the caller).
BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/tokens": {"json": {"name": "x", "scopes": ["read"]}},
    "POST /api/v1/orders": {
        "json": {"instrument_id": 1, "side": "bid", "price": "0.1", "quantity": 1}
    },
    "POST /api/v1/orders/buy-now": {
        "json": {"instrument_id": 1, "quantity": 1, "max_price": "0.1"}
    },
    "POST /api/v1/orders/sell-now": {
        "json": {"instrument_id": 1, "quantity": 1, "min_price": "0.1"}
    },
    "POST /api/v1/reviews/{review_id}/reply": {"json": {"text": "thanks"}},
    "POST /api/v1/models/{model_id}/uploads": {"files": {"file": ("p.csv", b"id,prediction\n")}},
}


def table(app: Any) -> Iterator[tuple[str, APIRoute]]:
    """``"METHOD /path"`` of every route in the app's route table (included routers too)."""

    def walk(router: object, prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
        for route in getattr(router, "routes", []):
            if isinstance(route, APIRoute):
                for method in sorted(route.methods or ()):
                    yield f"{method} {prefix}{route.path}", route
            elif hasattr(route, "original_router"):
                yield from walk(route.original_router, prefix + route.include_context.prefix)

    yield from walk(app.router)


def test_every_route_has_a_rule(container: Container) -> None:
    routes = {key for key, _ in table(create_app(container))}
    assert sorted(routes - set(RULES)) == [], "routes without an authorisation rule"
    assert sorted(set(RULES) - routes) == [], "rules for routes that no longer exist"


def test_a_new_route_without_a_rule_is_caught(container: Container) -> None:
    app = create_app(container)

    @app.get("/api/v1/something-new")
    def something_new() -> dict[str, str]:
        return {}

    routes = {key for key, _ in table(app)}
    assert sorted(routes - set(RULES)) == ["GET /api/v1/something-new"]


@dataclass
class World:
    client: TestClient
    ids: dict[str, str]  # path parameter -> the owner's resource
    owner_full: str  # the owner's token with every scope (to check the owner is served)
    stranger: str  # another user's token with every scope
    stranger_web: TestClient  # another user's browser session
    tokens_without: dict[Scope, str]  # a token of the owner without that scope


@pytest.fixture
def world(market: Container, emulator: EmulatorServer) -> World:
    scenario = Scenario.start(market, emulator)
    scenario.next_round()
    buyer = scenario.buyer()
    seller = scenario.seller
    fill_id = scenario.sell_file(buyer)
    scenario.upload()
    resting = seller.place(scenario.book("file"), "ask", 1, "5")
    _, token_info = accounts.create_token(market.db, user_id=seller.id, name="x", scopes="read")
    with market.db.transaction() as s:
        key_id = s.scalars(select(NumeraiApiKey.id).where(NumeraiApiKey.user_id == seller.id)).one()
    link = downloads.create_link(market, user_id=buyer.id, fill_id=fill_id)
    ids = {
        "token_id": str(token_info.id),
        "key_id": str(key_id),
        "model_id": str(seller.model()),
        "order_id": str(resting.order.id),
        "client_order_id": resting.order.client_order_id,
        "fill_id": str(fill_id),
        "token": link.url.rstrip("/").rsplit("/", 1)[-1],
        "code_id": "1",
        "standing_id": "1",
        "review_id": "1",
        "user_id": str(seller.id),
        "username": seller.user.username,
        "action": "lock",
        "instrument_id": "1",
    }
    every = " ".join(s.value for s in Scope)
    without = {
        scope: make_token(market, seller.user, " ".join(s.value for s in Scope if s != scope))
        for scope in Scope
    }
    stranger = make_user(market)
    client = TestClient(create_app(market), raise_server_exceptions=False)
    web = TestClient(client.app, raise_server_exceptions=False)
    r = web.post(
        "/login",
        data={
            "username": stranger.username,
            "password": stranger.password,
            "csrf_token": csrf_token(web, "/login"),
        },
    )
    assert r.status_code == 200 and r.url.path != "/login"
    return World(
        client=client,
        ids=ids,
        owner_full=make_token(market, seller.user, every),
        stranger=make_token(market, stranger, every),
        stranger_web=web,
        tokens_without=without,
    )


def _url(key: str, ids: dict[str, str]) -> tuple[str, str]:
    method, path = key.split(" ", 1)
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no value for a parameter of {key}"
    return method, path


def _ask(client: TestClient, key: str, ids: dict[str, str], headers: dict[str, str]) -> Any:
    method, path = _url(key, ids)
    extra = BODIES.get(key, {"json": {}} if method in ("POST", "PUT") else {})
    return client.request(method, path, headers=headers, follow_redirects=False, **extra)


API = [k for k, rule in RULES.items() if k.split(" ", 1)[1].startswith("/api/")]
PAGES = [k for k in RULES if k not in API]


def _refused_page(r: Any) -> bool:
    if r.status_code in (303, 307, 302):
        return r.headers["location"].split("?")[0].endswith("/login")
    return r.status_code in (401, 403, 404)


def test_the_api_refuses_anonymous_callers(world: World) -> None:
    wrong = []
    for key in API:
        if RULES[key].kind == "public":
            continue
        r = _ask(world.client, key, world.ids, {})
        if r.status_code != 401:
            wrong.append((key, r.status_code, r.text[:80]))
    assert wrong == []


def test_the_api_refuses_a_token_without_the_scope(world: World) -> None:
    wrong = []
    for key in API:
        rule = RULES[key]
        if rule.kind == "public" or rule.scope is None:
            continue
        r = _ask(world.client, key, world.ids, bearer(world.tokens_without[rule.scope]))
        if r.status_code != 403:
            wrong.append((key, rule.scope.value, r.status_code, r.text[:80]))
    assert wrong == []


def test_the_api_refuses_another_users_resources(world: World) -> None:
    wrong = []
    for key in API:
        rule = RULES[key]
        if rule.kind != "owned":
            continue
        r = _ask(world.client, key, world.ids, bearer(world.stranger))
        if r.status_code not in (403, 404):
            wrong.append((key, r.status_code, r.text[:80]))
    assert wrong == []
    _owner_resources_intact(world)


def test_the_owner_is_not_refused_where_a_stranger_is(world: World) -> None:
    """The other-user refusals above are about the owner: the owner's own token is let in."""
    for key in ("GET /api/v1/orders/{order_id}", "GET /api/v1/fills/{fill_id}/timeline"):
        r = _ask(world.client, key, world.ids, bearer(world.owner_full))
        assert r.status_code == 200, (key, r.text)


def test_the_pages_refuse_anonymous_visitors(world: World) -> None:
    wrong = []
    for key in PAGES:
        if RULES[key].kind == "public":
            continue
        r = _ask(world.client, key, world.ids, {})
        if not _refused_page(r):
            wrong.append((key, r.status_code))
    assert wrong == []


def test_the_pages_refuse_another_users_resources_and_the_operator_console(
    world: World,
) -> None:
    web = world.stranger_web
    token = csrf_token(web, "/wallet")
    wrong = []
    for key in PAGES:
        rule = RULES[key]
        if rule.kind not in ("owned", "operator"):
            continue
        method, path = _url(key, world.ids)
        extra: dict[str, Any] = {"data": {"csrf_token": token}} if method == "POST" else {}
        if key == "POST /sell/models/{model_id}/upload":
            extra["files"] = {"file": ("p.csv", b"id,prediction\n")}
        r = web.request(method, path, follow_redirects=False, **extra)
        refused = r.status_code in (403, 404)
        if r.status_code == 303 and method == "POST":
            # a form answers with a redirect and a message: refused when it is an error
            refused = [f["kind"] for f in _flashes(r)] == ["error"]
        if not refused:
            wrong.append((key, r.status_code, r.headers.get("location"), _flashes(r)))
        if r.status_code == 303:
            web.get(r.headers["location"])  # shows, and so drops, this request's messages
    assert wrong == []
    _owner_resources_intact(world)


def _owner_resources_intact(world: World) -> None:
    owner = bearer(world.owner_full)
    order = world.client.get(f"/api/v1/orders/{world.ids['order_id']}", headers=owner).json()
    assert order["state"] == "open", order
    tokens = world.client.get("/api/v1/tokens", headers=owner).json()
    assert [t["revoked_at"] for t in tokens if str(t["id"]) == world.ids["token_id"]] == [None]
    keys = world.client.get("/api/v1/numerai-keys", headers=owner).json()
    assert [str(k["id"]) for k in keys] == [world.ids["key_id"]]
    mine = world.client.get("/api/v1/models/mine", headers=owner).json()
    assert world.ids["model_id"] in [str(m["id"]) for m in mine]


def _flashes(response: Any) -> list[dict[str, str]]:
    """The messages a response left in the browser session (Starlette's signed cookie:
    base64 JSON, then a timestamp and a signature)."""
    cookie = response.cookies.get("nmrx_session") or ""
    payload = cookie.split(".")[0]
    data = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    return list(data.get("flash", []))
