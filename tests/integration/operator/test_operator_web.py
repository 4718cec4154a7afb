"""The operator console in HTML: only operators reach it (404 for everyone else, on every
route of the app's route table under /operator), forms need CSRF and a reason, and a
suspension ends the user's browser sessions and API tokens until reinstated."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from nmrx.operator import service as operator
from nmrx.platform.bootstrap import Container
from nmrx.platform.clock import FixedClock
from nmrx.wallet.money import nmr
from tests.integration.test_cli import run
from tests.support.books import NOW, instrument_id, make_seller, open_market
from tests.support.builders import (
    PASSWORD,
    api_client,
    bearer,
    browser_login,
    csrf_token,
    make_token,
    make_user,
)


def _operator_routes() -> list[tuple[str, str]]:
    """Every route under /operator in the app's list of routers."""
    from nmrx.app import ROUTERS

    routes = []
    for route in [r for router in ROUTERS for r in router.routes]:
        if isinstance(route, APIRoute) and route.path.startswith("/operator"):
            path = route.path.replace("{user_id}", "1")
            assert "{" not in path, f"give {route.path} a sample value in this test"
            routes += [(method, path) for method in sorted(route.methods)]
    return routes


def test_everyone_but_an_operator_gets_404_on_every_operator_route(container: Container) -> None:
    make_user(container, username="plain")
    anonymous = api_client(container)
    routes = _operator_routes()
    assert {p for _, p in routes} >= {
        "/operator",
        "/operator/accounts/1",
        "/operator/audit",
        "/operator/accounts/1/suspend",
        "/operator/accounts/1/reinstate",
    }
    user = browser_login(container, "plain")
    token = csrf_token(user, "/tokens")
    for method, path in routes:
        r = anonymous.request(method, path, data={"reason": "because I can"})
        assert r.status_code == 404, (method, path, r.status_code)
        r = user.request(method, path, data={"reason": "because I can", "csrf_token": token})
        assert r.status_code == 404, (method, path, r.status_code)
    assert operator.account(container, user_id=1).account.status == "active"


def test_an_operator_suspends_and_reinstates_through_the_console(container: Container) -> None:
    c = container
    c.clock = FixedClock(NOW)  # the books' time, for the API too
    seller = make_seller(c)
    open_market(c)
    book = instrument_id(c, seller.model_id)
    buyer = make_user(c, funds=nmr(10), username="mallory")
    api_token = make_token(c, buyer)
    api = api_client(c)
    r = api.post(
        "/api/v1/orders",
        json={"instrument_id": book, "side": "bid", "quantity": 1, "price": "0.3"},
        headers=bearer(api_token),
    )
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    make_user(c, username="olive")
    operator.set_role(c.db, username="olive", operator=True, by="test")
    op = browser_login(c, "olive")
    victim = browser_login(c, "mallory")
    assert victim.get("/wallet").url.path == "/wallet"

    page = op.get("/operator", params={"q": "mall"})
    assert page.status_code == 200
    link = re.search(r'href="(/operator/accounts/(\d+))">mallory<', page.text)
    assert link and int(link.group(2)) == buyer.id
    account = op.get(link.group(1))
    assert f"#{order_id}" in account.text and "Suspend mallory" in account.text

    suspend = f"/operator/accounts/{buyer.id}/suspend"
    assert op.post(suspend, data={"reason": "spoofing the book"}).status_code == 403  # no CSRF
    token = csrf_token(op, link.group(1))
    r = op.post(suspend, data={"reason": "", "csrf_token": token})
    assert r.status_code == 422 and "reason" in r.text
    r = op.post(suspend, data={"reason": "spoofing the book", "csrf_token": token})
    assert r.status_code == 200 and r.url.path == link.group(1)
    assert "mallory is suspended" in r.text and "No open orders." in r.text
    assert "spoofing the book" in r.text

    # The session in the victim's browser ended, logging in is refused, the token too.
    r = victim.get("/wallet")
    assert r.url.path == "/login" and "This account is suspended" in r.text
    r = victim.post(
        "/login",
        data={
            "username": "mallory",
            "password": PASSWORD,
            "csrf_token": csrf_token(victim, "/login"),
        },
    )
    assert r.status_code == 403 and "suspended by the operator" in r.text
    r = api.get(f"/api/v1/orders/{order_id}", headers=bearer(api_token))
    assert r.status_code == 403 and "suspended" in r.json()["error"]

    audit = op.get("/operator/audit", params={"subject": "mallory", "action": "account.suspend"})
    assert "spoofing the book" in audit.text and "olive" in audit.text
    assert op.get("/operator/audit", params={"since": "soon"}).status_code == 422
    assert "mallory" in op.get("/operator").text  # in the suspended list

    r = op.post(
        f"/operator/accounts/{buyer.id}/reinstate",
        data={"reason": "cleared after review", "csrf_token": token},
    )
    assert r.status_code == 200 and "mallory is reinstated" in r.text
    again = browser_login(c, "mallory")
    assert again.get("/wallet").url.path == "/wallet"
    r = api.get(f"/api/v1/orders/{order_id}", headers=bearer(api_token))
    assert r.status_code == 200 and r.json()["cancel_reason"] == "suspended"
    r = api.post(
        "/api/v1/orders",
        json={"instrument_id": book, "side": "bid", "quantity": 1, "price": "0.3"},
        headers=bearer(api_token),
    )
    assert r.status_code == 201, r.text


def test_a_suspended_account_placing_an_order_gets_403(container: Container) -> None:
    c = container
    c.clock = FixedClock(NOW)  # the books' time, for the API too
    seller = make_seller(c)
    open_market(c, NOW)
    book = instrument_id(c, seller.model_id)
    buyer = make_user(c, funds=nmr(10), username="trent")
    token = make_token(c, buyer)
    opal = make_user(c, username="opal")
    operator.set_role(c.db, username="opal", operator=True, by="test")
    operator.suspend(c, operator_id=opal.id, user_id=buyer.id, reason="court order")
    for path in ("/api/v1/orders", "/api/v1/orders/buy-now"):
        r = api_client(c).post(
            path,
            json={"instrument_id": book, "side": "bid", "quantity": 1, "price": "0.3"},
            headers=bearer(token),
        )
        assert r.status_code == 403, r.text
        assert r.json()["error"].startswith("this account is suspended by the operator")


def test_the_reserves_panel_says_what_holds(container: Container) -> None:
    make_user(container, funds=nmr(25), username="saver")
    make_user(container, username="opus")
    operator.set_role(container.db, username="opus", operator=True, by="test")
    page = browser_login(container, "opus").get("/operator")
    assert 'id="reserve-owed">25.00 NMR' in page.text
    assert "The books balance" in page.text
    assert "on-chain reserves arrive with real NMR" in page.text


def test_nmrx_operator_grant_and_revoke(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    user = make_user(container, username="clara")
    ok = run(["operator", "grant", "Clara"], database_url, tmp_path)
    assert ok.exit_code == 0, ok.stderr
    assert "clara is now an operator" in ok.stdout
    assert operator.require_operator(container.db, user.id).is_operator
    gone = run(["operator", "revoke", "clara"], database_url, tmp_path)
    assert gone.exit_code == 0 and "no longer an operator" in gone.stdout
    missing = run(["operator", "grant", "nobody"], database_url, tmp_path)
    assert missing.exit_code == 1 and "no account named 'nobody'" in missing.stderr
    trail = operator.audit_trail(
        container.db, operator.AuditFilter(subject="clara", action="operator.")
    )
    assert [e.action for e in trail] == ["operator.revoke", "operator.grant"]
    assert all(e.detail.startswith("nmrx operator") for e in trail)


@pytest.mark.parametrize("path", ["/operator", "/operator/audit"])
def test_operator_pages_render_for_an_operator(container: Container, path: str) -> None:
    make_user(container, username="oscar")
    operator.set_role(container.db, username="oscar", operator=True, by="test")
    r = browser_login(container, "oscar").get(path)
    assert r.status_code == 200 and "Audit trail" in r.text
