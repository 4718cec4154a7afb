"""Authorisation of the seller's browser (HTML) routes: another user's Numerai keys,
verification codes and models can be neither seen nor touched through the pages."""

from __future__ import annotations

from sqlalchemy import select

from nmrx.platform.bootstrap import Container
from nmrx.sellers import ownership
from nmrx.sellers.tables import OwnershipCode
from numerai_emulator import EmulatorServer
from tests.integration.sellers.test_onboarding import owned
from tests.support.builders import (
    api_client,
    bearer,
    browser_login,
    csrf_token,
    make_token,
    make_user,
)
from tests.support.emulator import numerai_player


def test_the_browser_routes_refuse_another_users_keys_codes_and_models(
    market: Container, emulator: EmulatorServer
) -> None:
    from nmrx.delivery.tables import PredictionUpload
    from nmrx.sellers import numerai_keys
    from nmrx.sellers.tables import NumeraiApiKey
    from tests.support.market import predictions

    world = emulator.world
    world.advance_to_next_open()
    round_number = world.current_round().number
    owner_player, coded_player, intruder_player = (
        numerai_player(world),
        numerai_player(world),
        numerai_player(world),
    )
    owner, intruder = make_user(market), make_user(market)
    owner_key = numerai_keys.add_key(
        market,
        user_id=owner.id,
        public_id=owner_player.key.public_id,
        secret=owner_player.key.secret,
    )
    numerai_keys.add_key(
        market,
        user_id=intruder.id,
        public_id=intruder_player.key.public_id,
        secret=intruder_player.key.secret,
    )
    # the owner's code is already in the bio: a check by anyone who may check it would bind
    coded_model = coded_player.classic[0]
    code = ownership.request_code(market, user_id=owner.id, model_name=coded_model)
    world.set_bio(coded_model, f"mine: {code.code}")
    owner_models = {m.name: m.id for m in ownership.models_of(market, user_id=owner.id)}
    assert set(owner_models) == {*owner_player.classic, owner_player.signals}
    target = owner_models[owner_player.classic[0]]
    before = owned(market)

    secrets_of_owner = [
        owner.username,
        owner_player.username,
        owner_player.key.public_id,
        owner_player.key.secret,
        code.code,
        coded_model,
        *owner_models,
    ]

    def reveals_nothing(page: str) -> None:
        leaked = [s for s in secrets_of_owner if s in page]
        assert leaked == [], f"the intruder's page shows the owner's data: {leaked}"

    def owners_things_intact() -> None:
        keys = numerai_keys.list_keys(market, user_id=owner.id)
        assert [k.id for k in keys] == [owner_key.id]
        with market.db.transaction() as s:
            row = s.get(NumeraiApiKey, owner_key.id)
            assert row is not None and row.user_id == owner.id
            code_row = s.get(OwnershipCode, code.id)
            assert code_row is not None and code_row.user_id == owner.id
            assert code_row.used_at is None
            uploads_to_target = s.scalars(
                select(PredictionUpload).where(PredictionUpload.model_id == target)
            ).all()
            assert uploads_to_target == []
        assert [c.id for c in ownership.list_codes(market, user_id=owner.id)] == [code.id]
        assert owned(market) == before
        assert {m.name for m in ownership.models_of(market, user_id=owner.id)} == set(owner_models)

    browser = browser_login(market, intruder.username)

    r = browser.post(
        f"/numerai-keys/{owner_key.id}/delete",
        data={"csrf_token": csrf_token(browser, "/numerai-keys")},
    )
    assert r.status_code == 200 and r.url.path == "/numerai-keys"
    assert f"no Numerai key {owner_key.id} on your account" in r.text
    reveals_nothing(r.text)
    owners_things_intact()

    r = browser.post(
        f"/sell/verifications/{code.id}/check", data={"csrf_token": csrf_token(browser, "/sell")}
    )
    assert r.status_code == 200 and r.url.path == "/sell"
    assert f"no verification code {code.id} on your account" in r.text
    reveals_nothing(r.text)
    owners_things_intact()

    r = browser.post(
        f"/sell/models/{target}/release", data={"csrf_token": csrf_token(browser, "/sell")}
    )
    assert r.status_code == 200 and r.url.path == "/sell"
    assert f"you do not own model {target}" in r.text
    reveals_nothing(r.text)
    owners_things_intact()

    file = predictions(emulator, round_number, seed=7)
    token = csrf_token(browser, "/sell")
    r = browser.post(
        f"/sell/models/{target}/upload",
        params={"csrf_token": token},  # as the form's action carries it: checked before the body
        data={"csrf_token": token},
        files={"file": ("preds.csv", file, "text/csv")},
    )
    assert r.status_code == 200 and r.url.path == "/sell"
    assert f"you are not the verified owner of model {target}" in r.text
    reveals_nothing(r.text)
    owners_things_intact()

    # the JSON list of the intruder's models holds only the intruder's own
    mine = api_client(market).get(
        "/api/v1/models/mine", headers=bearer(make_token(market, intruder))
    )
    assert mine.status_code == 200
    assert {m["name"] for m in mine.json()} == {*intruder_player.classic, intruder_player.signals}
    assert {m["id"] for m in mine.json()}.isdisjoint(owner_models.values())
    reveals_nothing(mine.text)
    reveals_nothing(browser.get("/sell").text)
    reveals_nothing(browser.get("/numerai-keys").text)

    # the very same requests from the owner do what they say: the refusals above were real
    own = browser_login(market, owner.username)
    token = csrf_token(own, "/sell")
    r = own.post(
        f"/sell/models/{target}/upload",
        params={"csrf_token": token},
        data={"csrf_token": token},
        files={"file": ("preds.csv", file, "text/csv")},
    )
    assert "Accepted preds.csv" in r.text, r.text
    r = own.post(
        f"/sell/verifications/{code.id}/check", data={"csrf_token": csrf_token(own, "/sell")}
    )
    assert owned(market)[coded_model] == owner.id
    r = own.post(f"/sell/models/{target}/release", data={"csrf_token": csrf_token(own, "/sell")})
    assert owned(market)[owner_player.classic[0]] is None
    own.post(
        f"/numerai-keys/{owner_key.id}/delete",
        data={"csrf_token": csrf_token(own, "/numerai-keys")},
    )
    assert numerai_keys.list_keys(market, user_id=owner.id) == []
