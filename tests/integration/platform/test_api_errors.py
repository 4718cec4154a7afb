"""Finding 19: the OpenAPI document lists every status each route answers, with the error
model the API really sends, and errors speak NMR and plain words."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from nmrx.app import create_app
from nmrx.platform.bootstrap import Container
from nmrx.wallet.money import nmr
from tests.support.builders import bearer, make_token, make_user

ERROR_REF = "#/components/schemas/ErrorBody"


@pytest.fixture
def client(container: Container) -> TestClient:
    return TestClient(create_app(container))


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def test_the_error_model_is_the_shape_the_api_answers(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    model = doc["components"]["schemas"]["ErrorBody"]
    assert model["required"] == ["error"]
    assert set(model["properties"]) == {"error", "details"}
    r = client.get("/api/v1/me")
    assert r.status_code == 401 and set(r.json()) == {"error"}
    r = client.post("/api/v1/auth/register", json={})
    assert r.status_code == 422 and set(r.json()) == {"error", "details"}


def test_every_route_documents_its_error_statuses_with_the_error_model(
    client: TestClient,
) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    operations = _operations(doc)
    assert len(operations) > 50
    for method, path, op in operations:
        answers = op["responses"]
        errors = {int(code) for code in answers if int(code) >= 400}
        secured = any("HTTPBearer" in s for s in op.get("security", []))
        if secured:
            assert {401, 403} <= errors, (method, path)
        if "{" in path:
            assert 404 in errors, (method, path)
        if op.get("parameters") or op.get("requestBody"):
            assert 422 in errors, (method, path)
        if op.get("requestBody"):
            assert 413 in errors, (method, path)
        if secured and method != "GET":
            assert 409 in errors, (method, path)
        for code in errors:
            schema = answers[str(code)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, (method, path, code)
    by_route = {(m, p): {int(c) for c in op["responses"]} for m, p, op in operations}
    assert 429 in by_route[("POST", "/api/v1/auth/tokens")]
    assert 429 in by_route[("POST", "/api/v1/auth/register")]
    assert 429 in by_route[("POST", "/api/v1/wallet/faucet")]
    assert 429 in by_route[("GET", "/api/v1/instruments/{instrument_id}/stream")]
    assert 503 in by_route[("POST", "/api/v1/numerai-keys")]
    headers = doc["paths"]["/api/v1/auth/tokens"]["post"]["responses"]["429"]["headers"]
    assert "Retry-After" in headers


def test_a_fractional_quantity_is_named_as_the_quantity(
    client: TestClient, container: Container
) -> None:
    token = make_token(container, make_user(container))
    r = client.post(
        "/api/v1/orders",
        json={"instrument_id": 1, "side": "bid", "price": "0.1", "quantity": 1.5},
        headers=bearer(token),
    )
    assert r.status_code == 422
    assert r.json()["error"] == "quantity: must be a whole number, not 1.5"
    assert "amount" not in r.json()["error"]


def test_a_float_price_names_price_not_amount(client: TestClient, container: Container) -> None:
    token = make_token(container, make_user(container))
    r = client.post(
        "/api/v1/orders",
        json={"instrument_id": 1, "side": "bid", "price": 0.1, "quantity": 1},
        headers=bearer(token),
    )
    assert r.status_code == 422
    assert 'send "price" as a decimal string' in r.json()["error"]


def test_the_faucet_limit_is_stated_in_nmr(client: TestClient, container: Container) -> None:
    token = make_token(container, make_user(container))
    r = client.post("/api/v1/wallet/faucet", json={"amount": "100000"}, headers=bearer(token))
    assert r.status_code == 422
    assert r.json()["error"] == "the faucet gives at most 1000.00 NMR per request"


def test_insufficient_funds_do_not_expose_internal_ids(
    client: TestClient, container: Container
) -> None:
    user = make_user(container, funds=nmr(1))
    r = client.post(
        "/api/v1/wallet/withdrawals",
        json={"amount": "2"},
        headers=bearer(make_token(container, user)),
    )
    assert r.status_code == 409
    assert r.json()["error"] == (
        "insufficient funds in the available balance: 1.00 NMR there, 2.00 NMR needed"
    )
    assert f"user {user.id}" not in r.json()["error"]


def test_malformed_json_says_where_in_words(client: TestClient, container: Container) -> None:
    token = make_token(container, make_user(container))
    r = client.post(
        "/api/v1/wallet/faucet",
        content=b'{\n  "amount": x}',
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json() == {
        "error": "the request body is not valid JSON (line 2, column 13)",
        "details": ["the request body is not valid JSON (line 2, column 13)"],
    }


def test_an_unreadable_body_is_answered_in_the_error_shape(
    client: TestClient, container: Container
) -> None:
    token = make_token(container, make_user(container))
    r = client.post(
        "/api/v1/wallet/faucet",
        content=b"\xe2\x28\xa1 not utf-8",
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert r.status_code == 400  # as before: only the shape and the words change
    assert r.json() == {
        "error": "the request body could not be read: send JSON (UTF-8) or a form as documented"
    }


def test_an_unknown_api_route_is_answered_in_the_error_shape(client: TestClient) -> None:
    r = client.get("/api/v1/no-such-thing")
    assert r.status_code == 404
    assert r.json() == {"error": "no such API route: see /api/v1/openapi.json"}
    assert client.get("/no-such-page").status_code == 404  # pages keep their own answer


def test_a_numerai_key_that_cannot_be_sent_is_refused_not_a_server_error(
    container: Container,
) -> None:
    client = TestClient(create_app(container), raise_server_exceptions=False)
    token = make_token(container, make_user(container))
    for public_id in ("ABC\U00088113DEF", "ABC DEF", "ABC\u00e9"):
        r = client.post(
            "/api/v1/numerai-keys",
            json={"public_id": public_id, "secret": "SECRET"},
            headers=bearer(token),
        )
        assert r.status_code == 422, r.text
        assert "as Numerai shows them" in r.json()["error"]
