"""JSON API: accounts, tokens, scopes, wallet — and bad input answered clearly with nothing written."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nmrx.app import create_app
from nmrx.platform.bootstrap import Container, bootstrap
from nmrx.platform.crypto import generate_key
from nmrx.platform.errors import Unauthorized
from nmrx.wallet import ledger
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr
from tests.conftest import make_settings
from tests.support.builders import api_client, bearer, make_token, make_user


@pytest.fixture
def client(container: Container) -> TestClient:
    return api_client(container)


def test_register_then_exchange_password_for_a_token_then_me(client: TestClient) -> None:
    r = client.post(
        "/api/v1/auth/register", json={"username": "Dana", "password": "blue-whale-tides"}
    )
    assert r.status_code == 201 and r.json()["username"] == "dana"
    r = client.post(
        "/api/v1/auth/tokens",
        json={
            "username": "dana",
            "password": "blue-whale-tides",
            "name": "cli",
            "scopes": ["read"],
        },
    )
    assert r.status_code == 201
    token = r.json()["token"]
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json() == {"id": me.json()["id"], "username": "dana", "scopes": ["read"]}


def test_duplicate_username_is_refused(client: TestClient, container: Container) -> None:
    make_user(container, username="erin")
    r = client.post(
        "/api/v1/auth/register", json={"username": "ERIN", "password": "another-strong-pass"}
    )
    assert r.status_code == 409
    assert r.json()["error"] == "the username 'erin' is already taken"


def test_weak_password_is_refused_and_no_account_is_created(client: TestClient) -> None:
    r = client.post("/api/v1/auth/register", json={"username": "frank", "password": "short"})
    assert r.status_code == 422 and "too weak" in r.json()["error"]
    r = client.post(
        "/api/v1/auth/tokens",
        json={"username": "frank", "password": "short", "name": "x", "scopes": ["read"]},
    )
    assert r.status_code == 401


def test_wrong_password_gets_401(client: TestClient, container: Container) -> None:
    make_user(container, username="gina")
    r = client.post(
        "/api/v1/auth/tokens",
        json={"username": "gina", "password": "nope-nope-nope", "name": "x", "scopes": ["read"]},
    )
    assert r.status_code == 401 and r.json()["error"] == "wrong username or password"


@pytest.mark.parametrize(
    "header", [None, "Bearer nmrx_not-a-real-token", "Bearer garbage", "Basic abc"]
)
def test_missing_or_wrong_token_gets_401(client: TestClient, header: str | None) -> None:
    r = client.get("/api/v1/me", headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    assert r.json()["error"]


def test_revoked_token_gets_401(client: TestClient, container: Container) -> None:
    user = make_user(container)
    token = make_token(container, user)
    token_id = client.get("/api/v1/tokens", headers=bearer(token)).json()[0]["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(token)).status_code == 200
    r = client.get("/api/v1/me", headers=bearer(token))
    assert r.status_code == 401 and r.json()["error"] == "this API token was revoked"


def test_token_without_the_needed_scope_gets_403_and_moves_nothing(
    client: TestClient, container: Container
) -> None:
    user = make_user(container)
    read_only = make_token(container, user, scopes="read")
    r = client.post("/api/v1/wallet/faucet", json={"amount": "10"}, headers=bearer(read_only))
    assert r.status_code == 403 and r.json()["error"] == "this token lacks the 'trade' scope"
    assert wallet.balances(container.db, user_id=user.id).available == 0


def test_a_token_cannot_mint_a_stronger_token(client: TestClient, container: Container) -> None:
    user = make_user(container)
    read_only = make_token(container, user, scopes="read")
    r = client.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["read", "trade"]}, headers=bearer(read_only)
    )
    assert r.status_code == 403


def test_a_user_cannot_revoke_another_users_token(client: TestClient, container: Container) -> None:
    owner, other = make_user(container), make_user(container)
    owner_token = make_token(container, owner)
    owner_token_id = client.get("/api/v1/tokens", headers=bearer(owner_token)).json()[0]["id"]
    r = client.delete(
        f"/api/v1/tokens/{owner_token_id}", headers=bearer(make_token(container, other))
    )
    assert r.status_code == 404
    assert client.get("/api/v1/me", headers=bearer(owner_token)).status_code == 200


def test_tokens_are_stored_hashed(container: Container) -> None:
    from sqlalchemy import select

    from nmrx.accounts.tables import ApiToken

    token = make_token(container, make_user(container))
    with container.db.transaction() as s:
        stored = s.scalars(select(ApiToken)).one()
    assert token not in (stored.token_hash, stored.prefix) and len(stored.token_hash) == 64


def test_passwords_are_stored_as_argon2id_hashes(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import Type
    from sqlalchemy import select

    from nmrx.accounts import passwords
    from nmrx.accounts import service as accounts
    from nmrx.accounts.tables import User

    assert passwords.DEFAULT_HASHER.type is Type.ID
    monkeypatch.setattr(passwords, "_hasher", passwords.DEFAULT_HASHER)  # production's cost
    user = make_user(container)
    with container.db.transaction() as s:
        stored = s.scalars(select(User).where(User.id == user.id)).one().password_hash
    assert stored.startswith("$argon2id$") and user.password not in stored
    assert passwords.DEFAULT_HASHER.check_needs_rehash(stored) is False  # production's cost
    assert accounts.authenticate(container.db, username=user.username, password=user.password)


def test_faucet_credits_integer_units_in_demo_mode(
    client: TestClient, container: Container
) -> None:
    user = make_user(container)
    token = make_token(container, user)
    r = client.post("/api/v1/wallet/faucet", json={"amount": "12.5"}, headers=bearer(token))
    assert r.status_code == 200
    assert r.json()["available"] == {"units": 1_250_000_000, "nmr": "12.50"}
    assert isinstance(r.json()["available"]["units"], int)
    r = client.post("/api/v1/wallet/faucet", json={"amount_units": 5}, headers=bearer(token))
    assert r.json()["available"]["units"] == 1_250_000_005
    history = client.get("/api/v1/wallet/history", headers=bearer(token)).json()
    assert [h["amount"]["units"] for h in history] == [5, 1_250_000_000]


def test_faucet_retry_with_the_same_idempotency_key_credits_once(
    client: TestClient, container: Container
) -> None:
    user = make_user(container)
    headers = {**bearer(make_token(container, user)), "Idempotency-Key": "k1"}
    for _ in range(3):
        assert (
            client.post("/api/v1/wallet/faucet", json={"amount": "1"}, headers=headers).status_code
            == 200
        )
    assert wallet.balances(container.db, user_id=user.id).available == nmr(1)


def test_faucet_does_not_exist_outside_demo_mode(database_url: str, tmp_path: Path) -> None:
    production = bootstrap(
        make_settings(
            database_url,
            tmp_path,
            demo=False,
            secret_key=secrets.token_urlsafe(48),
            encryption_keys=f"k1:{generate_key()}",
        )
    )
    try:
        client = TestClient(create_app(production))
        user = make_user(production)
        r = client.post(
            "/api/v1/wallet/faucet",
            json={"amount": "1"},
            headers=bearer(make_token(production, user)),
        )
        assert r.status_code == 404 and r.json()["error"] == "the faucet exists only in demo mode"
        assert wallet.balances(production.db, user_id=user.id).available == 0
        assert ledger.check(production.db) == []
    finally:
        production.close()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"amount": 1.5}, "never floats"),
        ({"amount": "1.5e3"}, "not a decimal NMR amount"),
        ({"amount": "0.000000001"}, "more than 8 decimals"),
        ({"amount": "-3"}, "must not be negative"),
        ({"amount": "abc"}, "not a decimal NMR amount"),
        ({}, "exactly one of"),
        ({"amount": "1", "amount_units": 1}, "exactly one of"),
        ({"amount_units": "12"}, "valid integer"),
        ({"amount": "0_5"}, "not a decimal NMR amount"),
        ({"amount": "1_000"}, "not a decimal NMR amount"),
        ({"amount": "١٢"}, "not a decimal NMR amount"),
        ({"amount": "１"}, "not a decimal NMR amount"),
    ],
)
def test_malformed_amounts_are_refused_with_the_reason(
    client: TestClient, container: Container, body: dict, message: str
) -> None:
    user = make_user(container)
    r = client.post("/api/v1/wallet/faucet", json=body, headers=bearer(make_token(container, user)))
    assert r.status_code == 422
    assert message in r.json()["error"]
    assert wallet.balances(container.db, user_id=user.id).available == 0


def test_withdrawal_that_would_overdraw_is_refused_and_changes_nothing(
    client: TestClient, container: Container
) -> None:
    user = make_user(container, funds=nmr(2))
    token = make_token(container, user)
    r = client.post("/api/v1/wallet/withdrawals", json={"amount": "3"}, headers=bearer(token))
    assert r.status_code == 409
    assert r.json()["error"] == (
        "insufficient funds in the available balance: 2.00 NMR there, 3.00 NMR needed"
    )
    assert wallet.balances(container.db, user_id=user.id).available == nmr(2)
    assert len(client.get("/api/v1/wallet/history", headers=bearer(token)).json()) == 1
    r = client.post("/api/v1/wallet/withdrawals", json={"amount": "0.5"}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["available"]["units"] == nmr("1.5")


def test_openapi_documents_the_api(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/me", "/api/v1/wallet", "/api/v1/wallet/faucet", "/api/v1/tokens"} <= set(
        spec["paths"]
    )


def _write_lock_is_free(container: Container) -> bool:
    """Could another thread start a write transaction right now, without waiting?"""
    from nmrx.platform.db import writer_lock

    result: list[bool] = []

    def probe() -> None:
        lock = writer_lock(container.db.engine)
        if container.db.engine.dialect.name == "postgresql":  # no process-wide lock: row locks
            result.append(True)
            return
        got = lock.acquire(blocking=False)  # type: ignore[attr-defined]
        if not got:
            result.append(False)
            return
        try:  # and SQLite's own write lock, asked for with no busy wait
            path = container.db.engine.url.database
            raw = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                raw.execute("BEGIN IMMEDIATE")
                raw.execute("ROLLBACK")
                result.append(True)
            except sqlite3.OperationalError:
                result.append(False)
            finally:
                raw.close()
        finally:
            lock.release()  # type: ignore[attr-defined]

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return result == [True]


class _TransactionSpy:
    """Counts the write transactions open on a Database while the code under test runs."""

    def __init__(self, container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
        self.open = 0
        real = container.db.transaction

        @contextmanager
        def counted() -> Iterator[object]:
            self.open += 1
            try:
                with real() as session:
                    yield session
            finally:
                self.open -= 1

        monkeypatch.setattr(container.db, "transaction", counted)


@pytest.mark.parametrize("case", ["right password", "wrong password", "unknown user"])
def test_a_login_checks_the_password_outside_any_write_transaction(
    container: Container, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    # argon2 takes tens of ms by design: inside a write transaction it held SQLite's writer
    # lock, and 30 concurrent bad logins stalled every other user's requests for seconds.
    from nmrx.accounts import service as accounts

    user = make_user(container)
    spy = _TransactionSpy(container, monkeypatch)
    during: list[tuple[int, bool]] = []
    real_verify = accounts.verify_password

    def verify(password_hash: str, password: str) -> bool:
        during.append((spy.open, _write_lock_is_free(container)))
        return real_verify(password_hash, password)

    monkeypatch.setattr(accounts, "verify_password", verify)
    username = "nobody-here" if case == "unknown user" else user.username
    password = user.password if case == "right password" else "not-the-password"
    if case == "right password":
        assert accounts.authenticate(container.db, username=username, password=password)
    else:
        with pytest.raises(Unauthorized, match="wrong username or password"):
            accounts.authenticate(container.db, username=username, password=password)
    assert during == [(0, True)]  # verified once, with no transaction open, writers free


def test_registration_hashes_before_its_write_transaction(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nmrx.accounts import service as accounts

    spy = _TransactionSpy(container, monkeypatch)
    during: list[tuple[int, bool]] = []
    real_hash = accounts.hash_password

    def hash_password(password: str) -> str:
        during.append((spy.open, _write_lock_is_free(container)))
        return real_hash(password)

    monkeypatch.setattr(accounts, "hash_password", hash_password)
    accounts.register(container.db, username="hana", password="blue-whale-tides")
    assert during == [(0, True)]


def test_an_outdated_hash_is_replaced_after_a_right_login(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher

    from nmrx.accounts import passwords
    from nmrx.accounts import service as accounts
    from nmrx.accounts.tables import User

    user = make_user(container)
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", stronger)
    assert accounts.authenticate(container.db, username=user.username, password=user.password)
    with container.db.transaction() as s:
        stored = s.get(User, user.id).password_hash
    assert not stronger.check_needs_rehash(stored) and stronger.verify(stored, user.password)


@pytest.mark.parametrize(
    "password", ["Password1!", "iloveyou2024!", "Dragon2024", "QWERTY123456!!"]
)
def test_common_passwords_are_refused_even_with_digits_or_symbols_added(
    client: TestClient, container: Container, password: str
) -> None:
    r = client.post("/api/v1/auth/register", json={"username": "ivan", "password": password})
    assert r.status_code == 422
    assert "is one of the most common passwords" in r.json()["error"]
    from nmrx.accounts import service as accounts

    with pytest.raises(Unauthorized):
        accounts.authenticate(container.db, username="ivan", password=password)


def test_an_overlong_password_is_refused_before_it_is_hashed(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nmrx.accounts import service as accounts

    user = make_user(container)
    hashed: list[int] = []

    def hash_password(password: str) -> str:
        hashed.append(len(password))
        return "x"

    def verify_password(password_hash: str, password: str) -> bool:
        hashed.append(len(password))
        return False

    monkeypatch.setattr(accounts, "hash_password", hash_password)
    monkeypatch.setattr(accounts, "verify_password", verify_password)
    huge = "a-long-passphrase-" * 2_000  # 36 KB: inside the body limit, far past 256 characters
    r = client.post("/api/v1/auth/register", json={"username": "judy", "password": huge})
    assert r.status_code == 422
    assert r.json()["error"] == "password is too long: use at most 256 characters"
    r = client.post(
        "/api/v1/auth/tokens",
        json={"username": user.username, "password": huge, "name": "x", "scopes": ["read"]},
    )
    assert r.status_code == 401
    assert r.json()["error"] == (
        "wrong username or password (passwords are at most 256 characters)"
    )
    # a 1 MB password never reaches the service: the body is refused before it is read
    r = client.post("/api/v1/auth/register", json={"username": "judy", "password": huge * 30})
    assert r.status_code == 413
    assert hashed == []
    with pytest.raises(Unauthorized):
        accounts.authenticate(container.db, username="judy", password="a-long-passphrase-")
