"""Further numerapi calls the emulator answers: payouts, wallet, links, profiles."""

from __future__ import annotations

import warnings
from decimal import Decimal

import pytest
from emu_helpers import classic_api, classic_predictions

from numerai_emulator import calendar


def test_pending_payouts_move_to_actual_when_the_round_resolves(emu, player, fresh_round):
    api = player.napi
    model_id = player.classic[0]
    api.upload_predictions(df=classic_predictions(emu.world, fresh_round, 1), model_id=model_id)
    rt = calendar.round_times(fresh_round)
    emu.world.clock.set(rt.score_time)
    pending = api.pending_model_payouts()
    assert [p["roundNumber"] for p in pending["pending"]] == [fresh_round]
    assert isinstance(pending["pending"][0]["payoutNmr"], Decimal)
    emu.world.clock.set(rt.resolve_time)
    resolved = api.pending_model_payouts()
    assert [p["roundNumber"] for p in resolved["actual"]] == [fresh_round]
    assert abs(resolved["actual"][0]["payoutNmr"]) <= Decimal("0.5")  # ≤ 5 % of 10 NMR
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        perf = api.round_model_performances_v2(model_id)[0]
    final = [s for s in perf["submissionScores"] if s["day"] == 20]
    assert all(s["payoutSettled"] == resolved["actual"][0]["payoutNmr"] for s in final)
    intra = api.intra_round_scores(model_id)[0]["intraRoundSubmissionScores"]
    assert len(intra) == 40


def test_wallet_transactions_record_stake_moves(emu, player):
    api = player.napi
    api.stake_increase(2, player.classic[1])
    (txn,) = api.wallet_transactions()
    assert txn["amount"] == Decimal("2") and txn["type"] == "stake"
    assert txn["time"].tzinfo is not None


def test_set_link_and_daily_performances(emu, player):
    api = player.napi
    assert api.set_link(player.classic[0], "buy", "https://example.org") is True
    assert api.daily_model_performances(f"{player.username}_a") == []
    assert player.sapi.daily_model_performances(f"{player.username}_s") == []


def test_unknown_model_name_is_an_error(emu):
    api = classic_api("")  # a public query: no key needed
    with pytest.raises(ValueError, match="Model not found"):
        api.public_user_profile("no_such_model")
