"""Managing tokens needs the `tokens` scope: a read-only token can neither mint nor revoke
tokens, a minted token never exceeds its parent, a token may always revoke itself, and a
full password login (what `nmrx login` asks for) may manage tokens."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from nmrx.platform.bootstrap import Container
from tests.support.builders import PASSWORD, api_client, bearer, make_token, make_user


@pytest.fixture
def client(container: Container) -> TestClient:
    return api_client(container)


def _token_ids(client: TestClient, token: str) -> list[int]:
    return [t["id"] for t in client.get("/api/v1/tokens", headers=bearer(token)).json()]


def test_a_read_only_token_cannot_mint_even_a_read_only_token(
    client: TestClient, container: Container
) -> None:
    read_only = make_token(container, make_user(container), scopes="read")
    r = client.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["read"]}, headers=bearer(read_only)
    )
    assert r.status_code == 403 and "'tokens' scope" in r.json()["error"]


def test_a_read_only_token_cannot_revoke_the_users_other_tokens(
    client: TestClient, container: Container
) -> None:
    user = make_user(container)
    pipeline = make_token(container, user, scopes="upload")
    read_only = make_token(container, user, scopes="read")
    pipeline_id = min(_token_ids(client, read_only))
    r = client.delete(f"/api/v1/tokens/{pipeline_id}", headers=bearer(read_only))
    assert r.status_code == 403 and "'tokens' scope" in r.json()["error"]
    assert client.get("/api/v1/me", headers=bearer(pipeline)).status_code == 200


def test_a_token_may_revoke_itself(client: TestClient, container: Container) -> None:
    read_only = make_token(container, make_user(container), scopes="read")
    own_id = _token_ids(client, read_only)[0]
    assert client.delete(f"/api/v1/tokens/{own_id}", headers=bearer(read_only)).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(read_only)).status_code == 401


def test_a_managing_token_mints_only_within_its_own_scopes(
    client: TestClient, container: Container
) -> None:
    user = make_user(container)
    manager = make_token(container, user, scopes="read tokens")
    stronger = client.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["read", "trade"]}, headers=bearer(manager)
    )
    assert stronger.status_code == 403
    child = client.post(
        "/api/v1/tokens", json={"name": "child", "scopes": ["read"]}, headers=bearer(manager)
    )
    assert child.status_code == 201 and child.json()["scopes"] == ["read"]
    pipeline = make_token(container, user, scopes="upload")
    ids = _token_ids(client, manager)
    assert client.delete(f"/api/v1/tokens/{max(ids)}", headers=bearer(manager)).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(pipeline)).status_code == 401


def test_a_full_password_login_may_manage_tokens_a_narrow_one_may_not(
    client: TestClient, container: Container
) -> None:
    make_user(container, username="hugo")

    def login(scopes: list[str]) -> str:
        r = client.post(
            "/api/v1/auth/tokens",
            json={"username": "hugo", "password": PASSWORD, "name": "cli", "scopes": scopes},
        )
        assert r.status_code == 201
        return str(r.json()["token"])

    full = login(["read", "trade", "upload"])
    assert "tokens" in client.get("/api/v1/me", headers=bearer(full)).json()["scopes"]
    r = client.post(
        "/api/v1/tokens", json={"name": "ci", "scopes": ["upload"]}, headers=bearer(full)
    )
    assert r.status_code == 201
    narrow = login(["read"])
    assert client.get("/api/v1/me", headers=bearer(narrow)).json()["scopes"] == ["read"]
    r = client.post(
        "/api/v1/tokens", json={"name": "ci", "scopes": ["read"]}, headers=bearer(narrow)
    )
    assert r.status_code == 403
