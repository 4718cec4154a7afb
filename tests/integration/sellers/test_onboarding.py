"""Seller onboarding against the Numerai emulator: bio codes, API keys, ownership moves,
secrets at rest, collateral — through the JSON API, with authorisation checks."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from nmrx.platform.bootstrap import Container
from nmrx.platform.events import ModelOwnershipMoved
from nmrx.sellers import ownership
from nmrx.sellers.tables import NumeraiModel, OwnershipCode, OwnershipMove
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr
from numerai_emulator import EmulatorServer
from tests.support.builders import (
    api_client,
    bearer,
    make_token,
    make_user,
)
from tests.support.emulator import key_with_scopes, numerai_player


@pytest.fixture
def client(market: Container) -> TestClient:
    return api_client(market)


def seller_headers(market: Container, funds: int = 0) -> tuple[int, dict[str, str]]:
    user = make_user(market, funds=funds)
    return user.id, bearer(make_token(market, user))


def owned(market: Container) -> dict[str, int | None]:
    with market.db.transaction() as s:
        return {m.name: m.owner_user_id for m in s.scalars(select(NumeraiModel))}


# --- ownership by bio code -----------------------------------------------------------


def test_bio_code_flow_binds_the_model_and_shows_it_on_the_seller_page(
    market: Container, client: TestClient, emulator: EmulatorServer
) -> None:
    player = numerai_player(emulator.world)
    user_id, headers = seller_headers(market)
    model = player.classic[0]
    r = client.post("/api/v1/models/verifications", json={"model_name": model}, headers=headers)
    assert r.status_code == 201, r.text
    code = r.json()
    assert code["code"].startswith("nmrx-verify-") and len(code["code"]) >= 40
    assert code["code"] in code["instructions"]

    # the seller puts the code in the bio with numerapi's own set_bio (through the gateway)
    market.numerai.set_bio(player.key, player.model_id(model), f"my model. {code['code']}")
    r = client.post(f"/api/v1/models/verifications/{code['id']}/check", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "verified"
    assert r.json()["model"]["numerai_id"] == player.model_id(model)
    assert owned(market) == {model: user_id}

    mine = client.get("/api/v1/models/mine", headers=headers).json()
    assert [(m["name"], m["verified_via"]) for m in mine] == [(model, "bio")]
    username = client.get("/api/v1/me", headers=headers).json()["username"]
    public = client.get(f"/api/v1/sellers/{username}")
    assert public.status_code == 200 and [m["name"] for m in public.json()["models"]] == [model]

    again = client.post(f"/api/v1/models/verifications/{code['id']}/check", headers=headers)
    assert again.json()["outcome"] == "code_used"


def test_code_missing_from_the_bio_changes_nothing(
    market: Container, client: TestClient, emulator: EmulatorServer
) -> None:
    player = numerai_player(emulator.world)
    _, headers = seller_headers(market)
    code = client.post(
        "/api/v1/models/verifications", json={"model_name": player.classic[0]}, headers=headers
    ).json()
    emulator.world.set_bio(player.classic[0], "nothing to see here")
    r = client.post(f"/api/v1/models/verifications/{code['id']}/check", headers=headers)
    assert r.status_code == 200
    assert r.json()["outcome"] == "code_not_in_bio"
    assert "not found in the model's bio" in r.json()["message"]
    assert owned(market) == {}


def test_an_expired_code_is_refused_even_if_it_is_in_the_bio(
    market: Container, emulator: EmulatorServer
) -> None:
    player = numerai_player(emulator.world)
    user = make_user(market)
    issued = market.clock.now()  # codes live by the platform's clock
    info = ownership.request_code(market, user_id=user.id, model_name=player.classic[0])
    emulator.world.set_bio(player.classic[0], info.code)
    result = ownership.check_code(
        market, user_id=user.id, code_id=info.id, now=issued + timedelta(hours=24, seconds=1)
    )
    assert result.outcome.value == "code_expired" and result.model is None
    assert owned(market) == {}
    fresh = ownership.check_code(
        market, user_id=user.id, code_id=info.id, now=issued + timedelta(hours=23)
    )
    assert fresh.outcome.value == "verified"


def test_no_such_model_is_refused_and_no_code_is_issued(
    market: Container, client: TestClient
) -> None:
    _, headers = seller_headers(market)
    r = client.post(
        "/api/v1/models/verifications", json={"model_name": "ghost_model_404"}, headers=headers
    )
    assert (
        r.status_code == 404
        and r.json()["error"] == "no classic model named 'ghost_model_404' on Numerai"
    )
    r = client.post(
        "/api/v1/models/verifications",
        json={"model_name": "x", "tournament": "crypto"},
        headers=headers,
    )
    assert r.status_code == 422 and "classic' or 'signals" in r.json()["error"]
    with market.db.transaction() as s:
        assert s.scalars(select(OwnershipCode)).all() == []


def test_numerai_unavailable_during_check_changes_nothing(
    market: Container, client: TestClient, emulator: EmulatorServer
) -> None:
    player = numerai_player(emulator.world)
    _, headers = seller_headers(market)
    code = client.post(
        "/api/v1/models/verifications", json={"model_name": player.classic[0]}, headers=headers
    ).json()
    emulator.world.set_bio(player.classic[0], code["code"])
    emulator.world.faults.outage(minutes=10)
    r = client.post(f"/api/v1/models/verifications/{code['id']}/check", headers=headers)
    assert r.status_code == 503 and "nothing changed, check again later" in r.json()["error"]
    r = client.post(
        "/api/v1/models/verifications", json={"model_name": player.classic[1]}, headers=headers
    )
    assert r.status_code == 503
    assert owned(market) == {}
    emulator.world.faults.clear()
    r = client.post(f"/api/v1/models/verifications/{code['id']}/check", headers=headers)
    assert r.json()["outcome"] == "verified"


# --- ownership by API key, key storage -----------------------------------------------


def test_api_key_verifies_every_model_of_the_account_at_once(
    market: Container, client: TestClient, emulator: EmulatorServer
) -> None:
    player = numerai_player(emulator.world)
    user_id, headers = seller_headers(market)
    r = client.post(
        "/api/v1/numerai-keys",
        json={"public_id": player.key.public_id, "secret": player.key.secret},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert "secret" not in body and player.key.secret not in r.text
    assert body["numerai_username"] == player.username
    assert "read_user_info" in body["scopes"] and "upload_submission" in body["scopes"]
    assert sorted(body["models"]) == sorted([*player.classic, player.signals])
    assert owned(market) == {name: user_id for name in [*player.classic, player.signals]}
    listed = client.get("/api/v1/numerai-keys", headers=headers)
    assert player.key.secret not in listed.text

    # replacing the same key updates it in place
    again = client.post(
        "/api/v1/numerai-keys",
        json={"public_id": player.key.public_id, "secret": player.key.secret},
        headers=headers,
    )
    assert again.status_code == 201 and again.json()["id"] == body["id"]
    assert len(client.get("/api/v1/numerai-keys", headers=headers).json()) == 1

    assert client.delete(f"/api/v1/numerai-keys/{body['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/numerai-keys", headers=headers).json() == []


@pytest.mark.parametrize(
    ("scopes", "status", "message"),
    [
        (["upload_submission"], 422, "lacks the 'read_user_info' scope"),
        (None, 422, "does not accept this API key"),
    ],
)
def test_a_key_numerai_refuses_is_not_saved(
    market: Container,
    client: TestClient,
    emulator: EmulatorServer,
    scopes: list[str] | None,
    status: int,
    message: str,
) -> None:
    player = numerai_player(emulator.world)
    key = key_with_scopes(emulator.world, player.username, scopes) if scopes else player.key
    secret = key.secret if scopes else "wrong-secret"
    _, headers = seller_headers(market)
    r = client.post(
        "/api/v1/numerai-keys", json={"public_id": key.public_id, "secret": secret}, headers=headers
    )
    assert r.status_code == status and message in r.json()["error"]
    assert client.get("/api/v1/numerai-keys", headers=headers).json() == []
    assert owned(market) == {}


def test_numerai_unavailable_when_adding_a_key_saves_nothing(
    market: Container, client: TestClient, emulator: EmulatorServer
) -> None:
    player = numerai_player(emulator.world)
    _, headers = seller_headers(market)
    emulator.world.faults.outage(minutes=10)
    r = client.post(
        "/api/v1/numerai-keys",
        json={"public_id": player.key.public_id, "secret": player.key.secret},
        headers=headers,
    )
    assert r.status_code == 503 and "nothing was saved" in r.json()["error"]
    emulator.world.faults.clear()
    assert client.get("/api/v1/numerai-keys", headers=headers).json() == []


def test_secrets_are_never_stored_or_logged_in_clear(
    market: Container,
    client: TestClient,
    emulator: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    player = numerai_player(emulator.world)
    _, headers = seller_headers(market)
    client.post(
        "/api/v1/numerai-keys",
        json={"public_id": player.key.public_id, "secret": player.key.secret},
        headers=headers,
    )
    with market.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM numerai_api_keys")).all()
    assert rows and all(player.key.secret not in str(tuple(row)) for row in rows)
    assert player.key.secret not in caplog.text
    emulator.world.faults.configure(fail_next=1)
    market.numerai.account(player.key)  # a retried call logs a warning: still no secret
    assert "unavailable" in caplog.text
    assert player.key.secret not in caplog.text


# --- ownership moves -----------------------------------------------------------------


def test_a_newer_verification_moves_the_model_and_cancels_the_old_owners_asks(
    market: Container, client: TestClient, emulator: EmulatorServer
) -> None:
    moved: list[ModelOwnershipMoved] = []  # beside the order book's handler, which cancels
    market.bus.subscribe_in_transaction(ModelOwnershipMoved, lambda _s, e: moved.append(e))
    player = numerai_player(emulator.world)
    first_id, first = seller_headers(market)
    second_id, second = seller_headers(market)
    code = client.post(
        "/api/v1/models/verifications", json={"model_name": player.classic[0]}, headers=first
    ).json()
    emulator.world.set_bio(player.classic[0], code["code"])
    assert (
        client.post(f"/api/v1/models/verifications/{code['id']}/check", headers=first).json()[
            "outcome"
        ]
        == "verified"
    )

    client.post(
        "/api/v1/numerai-keys",
        json={"public_id": player.key.public_id, "secret": player.key.secret},
        headers=second,
    )
    assert owned(market)[player.classic[0]] == second_id
    assert client.get("/api/v1/models/mine", headers=first).json() == []
    with market.db.transaction() as s:
        model_id = s.scalars(
            select(NumeraiModel.id).where(NumeraiModel.name == player.classic[0])
        ).one()
        moves = [
            (m.from_user_id, m.to_user_id, m.via)
            for m in s.scalars(
                select(OwnershipMove)
                .where(OwnershipMove.model_id == model_id)
                .order_by(OwnershipMove.id)
            )
        ]
    assert moves == [(None, first_id, "bio"), (first_id, second_id, "api_key")]
    assert [(e.model_id, e.from_user_id, e.to_user_id) for e in moved] == [
        (model_id, first_id, second_id)
    ]


# --- collateral ----------------------------------------------------------------------


def test_collateral_lock_and_unlock_keep_the_ledger_sound(
    market: Container, client: TestClient
) -> None:
    user_id, headers = seller_headers(market, funds=nmr(50))
    r = client.post("/api/v1/collateral/lock", json={"amount": "15"}, headers=headers)
    assert r.status_code == 200
    assert r.json()["collateral"]["units"] == nmr(15)
    r = client.post("/api/v1/collateral/unlock", json={"amount": "5"}, headers=headers)
    assert r.json()["collateral"]["units"] == nmr(10)
    b = wallet.balances(market.db, user_id=user_id)
    assert (b.available, b.collateral) == (nmr(40), nmr(10))
    r = client.post("/api/v1/collateral/lock", json={"amount": "1000"}, headers=headers)
    assert r.status_code == 409 and "insufficient funds" in r.json()["error"]


def test_a_seller_cannot_unlock_below_the_requirement(
    market: Container, client: TestClient, emulator: EmulatorServer
) -> None:
    player = numerai_player(emulator.world)
    user_id, headers = seller_headers(market, funds=nmr(50))
    client.post(
        "/api/v1/numerai-keys",
        json={"public_id": player.key.public_id, "secret": player.key.secret},
        headers=headers,
    )
    client.post("/api/v1/collateral/lock", json={"amount": "12"}, headers=headers)
    status = client.get("/api/v1/collateral", headers=headers).json()
    assert status["is_seller"] and status["may_list"]
    assert status["requirement"]["units"] == nmr(10) and status["max_unlock"]["units"] == nmr(2)
    r = client.post("/api/v1/collateral/unlock", json={"amount": "3"}, headers=headers)
    assert r.status_code == 409
    assert r.json()["error"] == (
        "cannot unlock 3.00 NMR: your collateral is 12.00 NMR and a seller must keep 10.00 NMR locked "
        "(you may unlock at most 2.00 NMR)"
    )
    assert wallet.balances(market.db, user_id=user_id).collateral == nmr(12)
    assert (
        client.post("/api/v1/collateral/unlock", json={"amount": "2"}, headers=headers).status_code
        == 200
    )
    below = client.post("/api/v1/collateral/unlock", json={"amount": "0.00000001"}, headers=headers)
    assert below.status_code == 409


def test_a_seller_below_the_requirement_may_not_list(
    market: Container, client: TestClient, emulator: EmulatorServer
) -> None:
    player = numerai_player(emulator.world)
    _, headers = seller_headers(market, funds=nmr(50))
    client.post(
        "/api/v1/numerai-keys",
        json={"public_id": player.key.public_id, "secret": player.key.secret},
        headers=headers,
    )
    client.post("/api/v1/collateral/lock", json={"amount": "9.99"}, headers=headers)
    status = client.get("/api/v1/collateral", headers=headers).json()
    assert status["may_list"] is False


# --- authorisation -------------------------------------------------------------------


def test_users_cannot_see_or_touch_each_others_keys_codes_models_or_collateral(
    market: Container, client: TestClient, emulator: EmulatorServer
) -> None:
    player = numerai_player(emulator.world)
    owner_id, owner = seller_headers(market, funds=nmr(20))
    _, intruder = seller_headers(market)
    key = client.post(
        "/api/v1/numerai-keys",
        json={"public_id": player.key.public_id, "secret": player.key.secret},
        headers=owner,
    ).json()
    code = client.post(
        "/api/v1/models/verifications", json={"model_name": player.classic[0]}, headers=owner
    ).json()
    client.post("/api/v1/collateral/lock", json={"amount": "10"}, headers=owner)
    model_id = client.get("/api/v1/models/mine", headers=owner).json()[0]["id"]

    assert client.get("/api/v1/numerai-keys", headers=intruder).json() == []
    assert client.delete(f"/api/v1/numerai-keys/{key['id']}", headers=intruder).status_code == 404
    assert client.get("/api/v1/models/verifications", headers=intruder).json() == []
    assert (
        client.post(
            f"/api/v1/models/verifications/{code['id']}/check", headers=intruder
        ).status_code
        == 404
    )
    assert (
        client.delete(f"/api/v1/models/{model_id}/ownership", headers=intruder).status_code == 404
    )
    assert client.get("/api/v1/collateral", headers=intruder).json()["collateral"]["units"] == 0
    assert (
        client.post("/api/v1/collateral/unlock", json={"amount": "1"}, headers=intruder).status_code
        == 409
    )
    for path in (
        "/api/v1/numerai-keys",
        "/api/v1/models/mine",
        "/api/v1/collateral",
        "/api/v1/models/verifications",
    ):
        assert client.get(path).status_code == 401
    read_only = bearer(make_token(market, make_user(market), scopes="read"))
    assert (
        client.post("/api/v1/collateral/lock", json={"amount": "1"}, headers=read_only).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/numerai-keys", json={"public_id": "a", "secret": "b"}, headers=read_only
        ).status_code
        == 403
    )
    # the owner's things are intact
    assert len(client.get("/api/v1/numerai-keys", headers=owner).json()) == 1
    assert wallet.balances(market.db, user_id=owner_id).collateral == nmr(10)


def test_an_ownership_move_cancels_the_previous_owners_real_asks(
    market: Container, emulator: EmulatorServer
) -> None:
    from nmrx.market import service as orders
    from tests.support.market import instrument, trader

    emulator.world.advance_to_next_open()
    old = trader(market, emulator, collateral_nmr=20)
    book = instrument(
        market,
        model_id=old.model(),
        round_number=emulator.world.current_round().number,
        mode="file",
    )
    ask = old.place(book, "ask", 3, "0.5").order
    assert ask.state == "open"
    new_owner = make_user(market)
    from nmrx.sellers import numerai_keys

    numerai_keys.add_key(
        market,
        user_id=new_owner.id,
        public_id=old.numerai.key.public_id,
        secret=old.numerai.key.secret,
    )
    assert owned(market)[old.numerai.classic[0]] == new_owner.id
    after = orders.get_order(market, user_id=old.id, order_id=ask.id)
    assert after.state == "cancelled" and after.remaining == 0
