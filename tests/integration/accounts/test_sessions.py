"""Browser sessions live server side: logging out ends a session even for a cookie copied
before, "log out everywhere" (the tokens page, or the API) ends every one, and cookies are
Secure by default outside demo mode."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from fastapi.testclient import TestClient

from nmrx.app import create_app
from nmrx.platform.bootstrap import Container, bootstrap
from nmrx.platform.crypto import generate_key
from tests.conftest import make_settings
from tests.support.builders import PASSWORD, api_client, bearer, make_token, make_user


def _csrf(client: TestClient, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def _log_in(client: TestClient, username: str) -> None:
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": _csrf(client, "/login")},
    )
    assert r.status_code == 200 and r.url.path == "/wallet"


def _logged_in(client: TestClient) -> bool:
    r = client.get("/wallet")
    return r.status_code == 200 and r.url.path == "/wallet"


def _copy(client: TestClient, container: Container) -> TestClient:
    thief = api_client(container)
    thief.cookies.set("nmrx_session", client.cookies["nmrx_session"])
    return thief


def test_a_cookie_captured_before_logout_no_longer_works(container: Container) -> None:
    user = make_user(container)
    browser = api_client(container)
    _log_in(browser, user.username)
    captured = _copy(browser, container)
    assert _logged_in(captured)
    browser.post("/logout", data={"csrf_token": _csrf(browser, "/wallet")})
    assert not _logged_in(browser)
    assert not _logged_in(captured), "a session ended at logout must stay ended"


def test_log_out_everywhere_ends_every_browser_session(container: Container) -> None:
    user, other = make_user(container), make_user(container)
    laptop, phone, others = api_client(container), api_client(container), api_client(container)
    _log_in(laptop, user.username)
    _log_in(phone, user.username)
    _log_in(others, other.username)
    page = laptop.get("/tokens")
    assert 'action="/logout-everywhere"' in page.text
    r = laptop.post("/logout-everywhere", data={"csrf_token": _csrf(laptop, "/tokens")})
    assert "logged out everywhere (2 browser session(s) ended)" in r.text
    assert not _logged_in(laptop) and not _logged_in(phone)
    assert _logged_in(others), "another user's sessions are untouched"


def test_the_api_ends_every_session_with_the_tokens_scope_only(container: Container) -> None:
    user = make_user(container)
    browser = api_client(container)
    _log_in(browser, user.username)
    api = api_client(container)
    read_only = make_token(container, user, scopes="read")
    assert api.delete("/api/v1/sessions", headers=bearer(read_only)).status_code == 403
    assert _logged_in(browser)
    manager = make_token(container, user, scopes="read tokens")
    r = api.delete("/api/v1/sessions", headers=bearer(manager))
    assert r.status_code == 200 and r.json() == {"ended": 1}
    assert not _logged_in(browser)


def test_session_cookies_are_secure_outside_demo_mode(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    demo_user = make_user(container)
    demo = api_client(container)
    demo.get("/login")
    r = demo.post(
        "/login",
        data={
            "username": demo_user.username,
            "password": PASSWORD,
            "csrf_token": _csrf(demo, "/login"),
        },
        follow_redirects=False,
    )
    assert "secure" not in r.headers["set-cookie"].lower()  # the demo is plain http on loopback

    production = bootstrap(
        make_settings(
            database_url,
            tmp_path / "prod",
            demo=False,
            secret_key=secrets.token_urlsafe(48),
            encryption_keys=f"k1:{generate_key()}",
        )
    )
    try:
        client = TestClient(create_app(production), base_url="https://testserver")
        user = make_user(production)
        r = client.post(
            "/login",
            data={
                "username": user.username,
                "password": PASSWORD,
                "csrf_token": _csrf(client, "/login"),
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert "secure" in r.headers["set-cookie"].lower()
    finally:
        production.close()
