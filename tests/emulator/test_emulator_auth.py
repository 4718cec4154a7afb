"""API keys: scopes, ownership, invalid keys — and the exact messages."""

from __future__ import annotations

import pytest
import requests
from emu_helpers import classic_api, classic_predictions, signals_api, signals_predictions

from numerai_emulator import INSUFFICIENT_PERMISSION, INVALID_KEY, NOT_AUTHENTICATED


def _key(world, username: str, *scopes: str) -> str:
    return world.create_api_key(username, scopes=scopes, name="limited").token


def test_upload_without_upload_scope_is_a_permission_error(emu, player, fresh_round):
    api = classic_api(_key(emu.world, player.username, "read_user_info", "stake"))
    preds = classic_predictions(emu.world, fresh_round, 1)
    with pytest.raises(ValueError) as exc:
        api.upload_predictions(df=preds, model_id=player.classic[0])
    assert str(exc.value) == (
        "Insufficient permission: this API key lacks the 'upload_submission' scope"
    )
    sapi = signals_api(_key(emu.world, player.username, "read_user_info"))
    with pytest.raises(ValueError, match=INSUFFICIENT_PERMISSION):
        sapi.upload_predictions(
            df=signals_predictions(emu.world, fresh_round, 1), model_id=player.signals
        )


def test_each_scope_guards_its_operations(emu, player):
    upload_only = classic_api(_key(emu.world, player.username, "upload_submission"))
    for call in (
        upload_only.get_account,
        upload_only.get_models,
        lambda: upload_only.submission_ids(player.classic[0]),
        lambda: upload_only.stake_increase(1, player.classic[0]),
    ):
        with pytest.raises(ValueError, match=f"^{INSUFFICIENT_PERMISSION}: "):
            call()
    reader = classic_api(_key(emu.world, player.username, "read_submission_info"))
    assert reader.submission_ids(player.classic[0]) == []
    staker = classic_api(_key(emu.world, player.username, "stake"))
    assert staker.stake_increase(1, player.classic[1])["type"] == "increase"


def test_a_key_cannot_touch_another_accounts_model(emu, player, fresh_round):
    alice = classic_api(emu.token("alice"))
    preds = classic_predictions(emu.world, fresh_round, 2)
    with pytest.raises(ValueError) as exc:
        alice.upload_predictions(df=preds, model_id=player.classic[0])
    assert str(exc.value) == (
        f"Insufficient permission: model {player.classic[0]} does not belong to this account"
    )
    with pytest.raises(ValueError, match=INSUFFICIENT_PERMISSION):
        alice.set_bio(player.classic[0], "mine now")


def test_an_unknown_or_wrong_key_is_an_authentication_error(emu):
    public_id = emu.world.key("alice").public_id
    for token in (f"{public_id}$WRONGSECRET", "NOSUCHKEY$NOSUCHSECRET"):
        with pytest.raises(ValueError) as exc:
            classic_api(token).get_account()
        assert str(exc.value) == INVALID_KEY


def test_no_key_on_a_private_query_is_not_authenticated(emu):
    reply = requests.post(emu.url, json={"query": "{ account { username } }"}, timeout=5)
    assert reply.status_code == 200
    assert reply.json()["errors"][0]["message"] == NOT_AUTHENTICATED


def test_public_queries_need_no_key(emu):
    api = classic_api("")
    assert api.get_current_round() == emu.world.current_round().number
    assert api.public_user_profile("alice_m1")["username"] == "alice_m1"
