"""Rate limits: logins (per address and per username), registrations (per address), new API
tokens, verification codes and checks, Numerai keys and the faucet (per account) answer 429
with ``Retry-After`` once used up — in the API's error shape for /api, as a page for forms —
and allow again once their window has passed. With Redis (CI's ``NMRX_TEST_REDIS_URL``) two
app instances share one count. Every test uses small limits; the other tests run with high ones.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from nmrx.app import create_app
from nmrx.platform.bootstrap import Container, bootstrap
from nmrx.platform.config import Settings
from nmrx.platform.crypto import generate_key
from nmrx.wallet import ledger
from numerai_emulator import EmulatorServer
from tests.conftest import IN_CI, make_settings
from tests.support.builders import PASSWORD, bearer, csrf_token, make_token, make_user

REDIS_URL = os.environ.get("NMRX_TEST_REDIS_URL", "")
if IN_CI and not REDIS_URL:
    raise RuntimeError("CI=true but NMRX_TEST_REDIS_URL is not set: shared limits must be tested")

_addresses = itertools.count(1)

Build = Callable[..., Container]


def new_address() -> str:
    """A documentation address (RFC 5737) of its own for each client: tests never share counts."""
    n = next(_addresses) + os.getpid() % 1000 * 250
    return f"198.{18 + n // 65536 % 2}.{n // 256 % 256}.{n % 256}"


@pytest.fixture
def build(database_url: str, tmp_path: Path) -> Iterator[Build]:
    """Containers on this test's database with the given settings; closed (ledger sound) after."""
    made: list[Container] = []

    def make(**overrides: object) -> Container:
        c = bootstrap(make_settings(database_url, tmp_path, **overrides), migrate=not made)
        made.append(c)
        return c

    yield make
    for c in made:
        assert ledger.check(c.db) == []
        c.close()


def client(c: Container, address: str | None = None) -> TestClient:
    return TestClient(create_app(c), client=(address or new_address(), 40000))


def assert_limited_json(r: httpx.Response, *, within: int) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert error.startswith("too many ") and "try again in" in error, error
    assert 1 <= int(r.headers["retry-after"]) <= within


def assert_limited_page(r: httpx.Response, *, within: int) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "too many " in r.text and "try again in" in r.text
    assert '<main id="main">' in r.text  # the site's own page, not a bare error
    assert 1 <= int(r.headers["retry-after"]) <= within


def api_login(http: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return http.post(
        "/api/v1/auth/tokens",
        json={"username": username, "password": password, "name": "cli", "scopes": ["read"]},
    )


def form_login(http: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return http.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_token(http, "/login"),
        },
        follow_redirects=False,
    )


def test_logins_are_limited_per_address_over_the_api_and_the_form(build: Build) -> None:
    c = build(rate_limit_login_per_ip="3/minute")
    user = make_user(c)
    attacker = client(c)
    assert api_login(attacker, user.username).status_code == 201
    assert api_login(attacker, user.username, "wrong-password-1").status_code == 401
    assert form_login(attacker, "someone-else", "wrong-password-2").status_code == 401
    # The fourth attempt from this address, whatever the name: refused before any password check.
    assert_limited_json(api_login(attacker, user.username), within=60)
    assert_limited_page(form_login(attacker, "another-name"), within=60)
    # Another address logs in as usual.
    assert api_login(client(c), user.username).status_code == 201
    assert form_login(client(c), user.username).status_code == 303


def test_logins_are_limited_per_username_from_any_address(build: Build) -> None:
    c = build(rate_limit_login_per_username="3/minute")
    victim, other = make_user(c), make_user(c)
    for attempt in range(3):
        assert api_login(client(c), victim.username, f"guess-{attempt}").status_code == 401
    # A fourth address, the same name in other letters: limited, with the right password too.
    assert_limited_json(api_login(client(c), victim.username.upper()), within=60)
    assert_limited_page(form_login(client(c), victim.username), within=60)
    assert api_login(client(c), other.username).status_code == 201


def test_registrations_are_limited_per_address(build: Build) -> None:
    c = build(rate_limit_register_per_ip="2/hour")
    http = client(c)
    for name in ("reg-one", "reg-two"):
        r = http.post("/api/v1/auth/register", json={"username": name, "password": PASSWORD})
        assert r.status_code == 201
    r = http.post("/api/v1/auth/register", json={"username": "reg-three", "password": PASSWORD})
    assert_limited_json(r, within=3600)
    page = http.post(
        "/register",
        data={
            "username": "reg-four",
            "password": PASSWORD,
            "csrf_token": csrf_token(http, "/register"),
        },
    )
    assert_limited_page(page, within=3600)
    fresh = client(c).post(
        "/api/v1/auth/register", json={"username": "reg-five", "password": PASSWORD}
    )
    assert fresh.status_code == 201


def test_new_tokens_are_limited_per_account_across_addresses_and_pages(build: Build) -> None:
    c = build(rate_limit_tokens_per_account="2/hour")
    me, other = make_user(c), make_user(c)
    scopes = "read trade upload tokens"  # minting tokens needs the tokens scope
    mine, theirs = bearer(make_token(c, me, scopes)), bearer(make_token(c, other, scopes))
    wanted = {"name": "pipeline", "scopes": ["read"]}
    assert client(c).post("/api/v1/tokens", json=wanted, headers=mine).status_code == 201
    assert client(c).post("/api/v1/tokens", json=wanted, headers=mine).status_code == 201
    assert_limited_json(client(c).post("/api/v1/tokens", json=wanted, headers=mine), within=3600)
    # The browser session of the same account shares the count.
    browser = client(c)
    assert form_login(browser, me.username).status_code == 303
    page = browser.post(
        "/tokens",
        data={"name": "web", "scopes": "read", "csrf_token": csrf_token(browser, "/tokens")},
    )
    assert_limited_page(page, within=3600)
    assert client(c).post("/api/v1/tokens", json=wanted, headers=theirs).status_code == 201
    # Exchanging the password for a token (the CLI's login) mints one too.
    assert_limited_json(api_login(client(c), me.username), within=3600)
    # A token nobody knows is a 401 (not a count against anyone).
    unknown = client(c).post("/api/v1/tokens", json=wanted, headers=bearer("nmrx_nope"))
    assert unknown.status_code == 401


def test_the_faucet_is_limited_per_account(build: Build) -> None:
    c = build(rate_limit_faucet_per_account="2/hour")
    me, other = make_user(c), make_user(c)
    mine = bearer(make_token(c, me))
    http = client(c)
    for _ in range(2):
        assert http.post("/api/v1/wallet/faucet", json={"amount": "1"}, headers=mine).is_success
    limited = http.post("/api/v1/wallet/faucet", json={"amount": "1"}, headers=mine)
    assert_limited_json(limited, within=3600)
    browser = client(c)
    assert form_login(browser, me.username).status_code == 303
    page = browser.post(
        "/wallet/faucet", data={"amount": "1", "csrf_token": csrf_token(browser, "/wallet")}
    )
    assert_limited_page(page, within=3600)
    theirs = bearer(make_token(c, other))
    assert http.post("/api/v1/wallet/faucet", json={"amount": "1"}, headers=theirs).is_success


def test_verification_codes_checks_and_keys_are_limited_per_account(
    build: Build, emulator: EmulatorServer
) -> None:
    """Each of these asks Numerai: an account cannot make NMRX hammer it."""
    c = build(
        numerai_api_url=emulator.url,
        numerai_retries=0,
        rate_limit_verifications_per_account="2/hour",
        rate_limit_verification_checks_per_account="2/hour",
        rate_limit_numerai_keys_per_account="2/hour",
    )
    me = make_user(c)
    mine = bearer(make_token(c, me))
    http = client(c)
    for _ in range(2):
        r = http.post(
            "/api/v1/models/verifications", json={"model_name": "no_such_model"}, headers=mine
        )
        assert r.status_code != 429, r.text
        r = http.post("/api/v1/models/verifications/999/check", headers=mine)
        assert r.status_code == 404, r.text
        r = http.post(
            "/api/v1/numerai-keys", json={"public_id": "P" * 32, "secret": "S" * 64}, headers=mine
        )
        assert r.status_code != 429, r.text
    assert_limited_json(
        http.post("/api/v1/models/verifications", json={"model_name": "m"}, headers=mine),
        within=3600,
    )
    assert_limited_json(
        http.post("/api/v1/models/verifications/999/check", headers=mine), within=3600
    )
    assert_limited_json(
        http.post(
            "/api/v1/numerai-keys", json={"public_id": "P" * 32, "secret": "S" * 64}, headers=mine
        ),
        within=3600,
    )
    browser = client(c)
    assert form_login(browser, me.username).status_code == 303
    token = csrf_token(browser, "/sell")
    page = browser.post("/sell/verifications", data={"model_name": "m", "csrf_token": token})
    assert_limited_page(page, within=3600)
    page = browser.post("/sell/verifications/999/check", data={"csrf_token": token})
    assert_limited_page(page, within=3600)
    page = browser.post(
        "/numerai-keys", data={"public_id": "P", "secret": "S", "csrf_token": token}
    )
    assert_limited_page(page, within=3600)


def test_a_limit_allows_again_once_its_window_has_passed(build: Build) -> None:
    c = build(rate_limit_login_per_ip="2/second")
    user = make_user(c)
    http = client(c)
    assert api_login(http, user.username).status_code == 201
    assert api_login(http, user.username).status_code == 201
    limited = api_login(http, user.username)
    assert_limited_json(limited, within=1)
    time.sleep(int(limited.headers["retry-after"]) + 0.1)
    assert api_login(http, user.username).status_code == 201


def test_limits_default_to_what_a_careful_exchange_allows() -> None:
    s = Settings(secret_key=secrets.token_urlsafe(48), encryption_keys=f"k1:{generate_key()}")
    assert s.rate_limit_login_per_ip == "10/minute"
    assert s.rate_limit_login_per_username == "10/minute"
    assert s.rate_limit_register_per_ip == "5/hour"
    assert s.rate_limit_tokens_per_account == "10/hour"
    assert s.rate_limit_verifications_per_account == "10/hour"
    assert s.rate_limit_faucet_per_account == "10/hour"
    assert s.rate_limit_streams_per_client == 5
    assert s.rate_limit_stream_min_poll_seconds == 0.5
    # The demo runs on loopback, where every visitor shares one address; an operator's
    # explicit setting wins there too.
    demo = Settings(demo=True)
    assert demo.rate_limit_register_per_ip == "100/hour"
    assert Settings(demo=True, rate_limit_register_per_ip="1/hour").rate_limit_register_per_ip == (
        "1/hour"
    )


@pytest.mark.parametrize("storage", ["memory"] + (["redis"] if REDIS_URL else []))
def test_app_instances_share_the_count_through_redis(build: Build, storage: str) -> None:
    """Two app instances (two processes of one exchange): with Redis they share every count;
    without it each counts its own requests."""
    limits = {
        "redis_url": REDIS_URL if storage == "redis" else "",
        "rate_limit_login_per_username": "3/minute",
    }
    first, second = build(**limits), build(**limits)
    assert first.rate_limiter is not second.rate_limiter
    user = make_user(first, username=f"shared-{uuid.uuid4().hex[:10]}")
    address = new_address()
    one, two = client(first, address), client(second, address)
    assert api_login(one, user.username, "guess-1").status_code == 401
    assert api_login(two, user.username, "guess-2").status_code == 401
    assert api_login(one, user.username, "guess-3").status_code == 401
    if storage == "redis":
        assert_limited_json(api_login(two, user.username), within=60)
        assert_limited_json(api_login(one, user.username), within=60)
    else:  # three tries counted by `one`, two by `two`
        assert api_login(one, user.username).status_code == 201
        assert api_login(two, user.username).status_code == 201
        assert_limited_json(api_login(one, user.username), within=60)
