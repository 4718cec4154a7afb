"""The browser shell over HTTP: register, log in, CSRF on every form, wallet and faucet."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from nmrx.accounts import service as accounts
from nmrx.platform.bootstrap import Container
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr
from tests.support.builders import PASSWORD, api_client, make_user


def csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture
def browser(container: Container) -> TestClient:
    return api_client(container)


def test_register_logs_in_and_the_faucet_shows_on_the_wallet(
    browser: TestClient, container: Container
) -> None:
    token = csrf(browser, "/register")
    r = browser.post(
        "/register", data={"username": "hana", "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 200 and r.url.path == "/wallet"
    assert "Welcome to NMRX, hana!" in r.text
    r = browser.post(
        "/wallet/faucet", data={"amount": "250", "csrf_token": csrf(browser, "/wallet")}
    )
    assert "The faucet credited 250.00 test NMR." in r.text
    assert re.search(r'id="available">250.00 NMR', r.text)
    assert "demo faucet" in r.text


def test_a_form_without_the_csrf_token_is_refused(
    browser: TestClient, container: Container
) -> None:
    browser.get("/register")
    r = browser.post("/register", data={"username": "ivan", "password": PASSWORD})
    assert r.status_code == 403 and "CSRF" in r.text
    r = browser.post(
        "/register", data={"username": "ivan", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert r.status_code == 403
    with pytest.raises(Exception, match="wrong username or password"):
        accounts.authenticate(container.db, username="ivan", password=PASSWORD)


def test_a_logged_in_faucet_post_without_csrf_moves_nothing(
    browser: TestClient, container: Container
) -> None:
    user = make_user(container)
    browser.post(
        "/login",
        data={
            "username": user.username,
            "password": PASSWORD,
            "csrf_token": csrf(browser, "/login"),
        },
    )
    r = browser.post("/wallet/faucet", data={"amount": "5"})
    assert r.status_code == 403
    assert wallet.balances(container.db, user_id=user.id).available == 0


def test_login_failure_says_why_and_the_wallet_needs_a_login(
    browser: TestClient, container: Container
) -> None:
    user = make_user(container)
    r = browser.post(
        "/login",
        data={
            "username": user.username,
            "password": "wrong-password!",
            "csrf_token": csrf(browser, "/login"),
        },
    )
    assert r.status_code == 401 and "wrong username or password" in r.text
    r = browser.get("/wallet")
    assert r.url.path == "/login" and "Please log in first." in r.text


def test_register_page_shows_a_weak_password_error(browser: TestClient) -> None:
    r = browser.post(
        "/register",
        data={"username": "jules", "password": "short", "csrf_token": csrf(browser, "/register")},
    )
    assert r.status_code == 422 and "password is too weak" in r.text
    assert 'value="jules"' in r.text


def test_logout_ends_the_session(browser: TestClient, container: Container) -> None:
    user = make_user(container, funds=nmr(1))
    browser.post(
        "/login",
        data={
            "username": user.username,
            "password": PASSWORD,
            "csrf_token": csrf(browser, "/login"),
        },
    )
    assert browser.get("/wallet").url.path == "/wallet"
    browser.post("/logout", data={"csrf_token": csrf(browser, "/wallet")})
    assert browser.get("/wallet").url.path == "/login"


def test_a_token_created_in_the_browser_is_shown_once(
    browser: TestClient, container: Container
) -> None:
    user = make_user(container)
    browser.post(
        "/login",
        data={
            "username": user.username,
            "password": PASSWORD,
            "csrf_token": csrf(browser, "/login"),
        },
    )
    r = browser.post(
        "/tokens",
        data={
            "name": "laptop",
            "scopes": ["read", "trade"],
            "csrf_token": csrf(browser, "/tokens"),
        },
    )
    token = re.search(r'id="new-token" class="token">(nmrx_[^<]+)<', r.text)
    assert token
    assert (
        browser.get("/api/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"}).status_code
        == 200
    )
    assert token.group(1) not in browser.get("/tokens").text


def test_htmx_is_served_locally(browser: TestClient) -> None:
    assert "/static/htmx.min.js" in browser.get("/").text
    r = browser.get("/static/htmx.min.js")
    assert r.status_code == 200 and "htmx" in r.text[:200]
