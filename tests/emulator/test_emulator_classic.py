"""The unmodified numerapi NumerAPI client against the emulator (classic, tournament 8)."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from emu_helpers import classic_api, classic_predictions

from numerai_emulator import ROUND_NOT_OPEN


def test_get_models_maps_names_to_ids_of_classic_models(emu):
    models = classic_api(emu.token("alice")).get_models()
    assert set(models) == {"alice_m1", "alice_m2"}
    assert models["alice_m1"] == emu.world.model("alice_m1").id


def test_get_account_returns_profile_models_and_api_tokens(emu):
    account = classic_api(emu.token("bob")).get_account()
    assert account["username"] == "bob"
    assert isinstance(account["availableNmr"], Decimal)
    assert account["insertedAt"].tzinfo is not None
    assert {m["name"] for m in account["models"]} == {"bob_slot1", "bob_slot2", "bob_sig"}
    token = account["apiTokens"][0]
    assert token["public_id"] == emu.world.key("bob").public_id
    assert set(token["scopes"]) >= {"upload_submission", "read_user_info", "stake"}


def test_public_user_profile_reads_bio_start_date_and_stake(emu, player):
    api = player.napi
    name = f"{player.username}_a"
    assert api.set_bio(player.classic[0], "verify-me-123") is True
    profile = api.public_user_profile(name)
    assert profile["id"] == player.classic[0]
    assert profile["username"] == name
    assert profile["bio"] == "verify-me-123"
    assert profile["nmrStaked"] == Decimal("10")
    assert profile["startDate"].tzinfo is not None
    assert api.stake_get(name) == Decimal("10")
    assert api.stake_get(f"{player.username}_b") is None  # unstaked, as on Numerai
    assert api.models_of_account(player.username) == {
        f"{player.username}_a": player.classic[0],
        f"{player.username}_b": player.classic[1],
    }


def test_current_round_has_open_and_close_times_with_zones(emu, fresh_round):
    api = classic_api(emu.token("alice"))
    assert api.get_current_round() == fresh_round
    rounds = api.list_rounds(number=fresh_round)
    (info,) = rounds
    assert info["openTime"].tzinfo is not None
    assert info["closeStakingTime"] - info["openTime"] in (
        dt.timedelta(hours=1),
        dt.timedelta(days=1, hours=20, minutes=30),  # Saturday round, closes Monday
    )
    assert [r["number"] for r in api.list_rounds(limit=3)] == [
        fresh_round + 1,
        fresh_round,
        fresh_round - 1,
    ]
    assert api.list_rounds(status="open")[0]["number"] == fresh_round
    assert {c["displayName"] for c in info["roundScoreConfigs"]} == {"v2_corr20", "mmc"}
    competitions = api.get_competitions()
    assert competitions[1]["number"] == fresh_round


def test_datasets_serve_the_live_universe_and_example_predictions(emu, fresh_round, tmp_path):
    api = classic_api(emu.token("alice"))
    names = api.list_datasets()
    assert "v5.0/live.parquet" in names and "v5.0/live_example_preds.parquet" in names
    live = pd.read_parquet(api.download_dataset("v5.0/live.parquet", str(tmp_path / "live.pq")))
    assert 6500 <= len(live) <= 6900
    assert all(re.fullmatch(r"n[0-9a-f]{15}", i) for i in live.index[:50])
    assert list(live.index) == emu.world.universe(8, fresh_round)
    example = pd.read_parquet(
        api.download_dataset("v5.0/live_example_preds.parquet", str(tmp_path / "ex.pq"))
    )
    assert example["prediction"].between(0, 1).all()
    assert list(example.index) == list(live.index)


def test_upload_from_file_and_dataframe_lists_both_and_selects_the_last(
    emu, player, fresh_round, tmp_path
):
    api = player.napi
    model_id = player.classic[0]
    path = tmp_path / "first.csv"
    classic_predictions(emu.world, fresh_round, 1).to_csv(path, index=False)
    first = api.upload_predictions(str(path), model_id=model_id)
    second = api.upload_predictions(
        "second.csv", model_id=model_id, df=classic_predictions(emu.world, fresh_round, 2)
    )
    listed = api.submission_ids(model_id)
    assert [s["id"] for s in listed] == [first, second]
    assert [s["filename"] for s in listed] == ["first.csv", "second.csv"]
    assert api.get_submission_filenames(model_id=model_id) == [
        {"round_num": fresh_round, "tournament": 8, "filename": "second.csv"}
    ]
    assert emu.world.selected_submission(model_id, fresh_round).id == second


def test_download_submission_returns_the_uploaded_bytes(emu, player, fresh_round, tmp_path):
    api = player.napi
    path = tmp_path / "mine.csv"
    classic_predictions(emu.world, fresh_round, 3).to_csv(path, index=False)
    sub_id = api.upload_predictions(str(path), model_id=player.classic[0])
    out = api.download_submission(sub_id, dest_path=str(tmp_path / "back.csv"))
    assert Path(out).read_bytes() == path.read_bytes()


def test_upload_outside_the_submission_window_is_refused(emu, player, fresh_round):
    preds = classic_predictions(emu.world, fresh_round, 4)
    emu.advance_to_next_close()
    with pytest.raises(ValueError, match=ROUND_NOT_OPEN):
        player.napi.upload_predictions(df=preds, model_id=player.classic[0])


def test_invalid_file_is_refused_with_numerai_tools_reason(emu, player, fresh_round):
    preds = classic_predictions(emu.world, fresh_round, 5).iloc[:100]
    with pytest.raises(ValueError, match="invalid_submission_ids"):
        player.napi.upload_predictions(df=preds, model_id=player.classic[0])
    bad = classic_predictions(emu.world, fresh_round, 5).rename(columns={"prediction": "p"})
    with pytest.raises(ValueError, match="invalid_submission_headers"):
        player.napi.upload_predictions(df=bad, model_id=player.classic[0])


def test_scores_appear_day_by_day_after_close_until_resolution(emu, player, fresh_round):
    api = player.napi
    model_id = player.classic[0]
    api.upload_predictions(df=classic_predictions(emu.world, fresh_round, 6), model_id=model_id)
    assert api.submission_scores(model_id) == []
    emu.advance_to_next_close()
    assert api.submission_scores(model_id) == []
    rt = emu.world.current_round()
    emu.world.clock.set(rt.score_time)
    day_one = api.submission_scores(model_id)
    assert {(s["day"], s["displayName"]) for s in day_one} == {(1, "v2_corr20"), (1, "mmc")}
    assert day_one[0]["date"].tzinfo is not None and day_one[0]["resolved"] is False
    emu.advance_days(5)
    assert max(s["day"] for s in api.submission_scores(model_id)) == 6
    assert len(api.submission_scores(model_id, display_name="mmc")) == 6
    latest = api.submission_scores(model_id, display_name="v2_corr20", distinct_on_round=True)
    assert [s["day"] for s in latest] == [6]
    emu.advance_days(30)
    resolved = api.submission_scores(model_id, resolved=True)
    assert {s["day"] for s in resolved} == {20}
    assert api.list_rounds(number=fresh_round)[0]["resolvedGeneral"] is True


def test_round_model_performances_v2_report_at_risk_and_daily_scores(emu, player, fresh_round):
    api = player.napi
    model_id = player.classic[0]
    api.upload_predictions(df=classic_predictions(emu.world, fresh_round, 7), model_id=model_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        (open_perf,) = api.round_model_performances_v2(model_id)
        assert open_perf["atRisk"] is None and open_perf["submissionScores"] == []
        emu.advance_to_next_close()
        api.stake_increase(7, model_id)  # after the close: not at risk in this round
        emu.advance_days(4)
        (perf,) = api.round_model_performances_v2(model_id)
    assert perf["roundNumber"] == fresh_round
    assert perf["atRisk"] == Decimal("10")
    assert perf["roundOpenTime"].tzinfo is not None
    days = {(s["day"], s["displayName"]) for s in perf["submissionScores"]}
    assert days == {(d, m) for d in (1, 2) for m in ("v2_corr20", "mmc")}
    assert all(isinstance(s["payoutPending"], Decimal) for s in perf["submissionScores"])
    assert {p["displayName"] for p in perf["payoutMultipliers"]} == {"v2_corr20", "mmc"}


def test_stake_changes_move_the_stake_and_the_wallet(emu, player):
    api = player.napi
    model_id, name = player.classic[1], f"{player.username}_b"
    result = api.stake_increase(12.5, model_id)
    assert result["requestedAmount"] == Decimal("12.5") and result["type"] == "increase"
    assert api.stake_get(name) == Decimal("12.5")
    decrease = api.stake_decrease("2.5", model_id)
    assert decrease["type"] == "decrease" and decrease["dueDate"].tzinfo is not None
    api.stake_set(20, model_id)
    assert api.stake_get(name) == Decimal("20")
    assert api.get_account()["availableNmr"] == Decimal("980")
    assert api.stake_drain(model_id)["drain"] is True
    assert api.stake_get(name) is None
    with pytest.raises(ValueError, match="Insufficient NMR"):
        api.stake_increase(10_000, model_id)


def test_modelid_to_modelname_and_model_submissions(emu, player, fresh_round):
    api = player.napi
    assert api.modelid_to_modelname(player.classic[1]) == f"{player.username}_b"
    api.upload_predictions(
        df=classic_predictions(emu.world, fresh_round, 8), model_id=player.classic[1]
    )
    data = api.raw_query(
        "query($id: String) { model(modelId: $id) { submissions { selected round { number } } } }",
        {"id": player.classic[1]},
        authorization=True,
    )["data"]["model"]
    assert data["submissions"] == [{"selected": True, "round": {"number": fresh_round}}]
