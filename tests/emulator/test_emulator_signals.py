"""The unmodified numerapi SignalsAPI client against the emulator (tournament 11)."""

from __future__ import annotations

import re
import warnings
from decimal import Decimal

import pandas as pd
import pytest
from emu_helpers import signals_api, signals_predictions


def test_signals_get_models_lists_only_signals_models(emu):
    assert set(signals_api(emu.token("alice")).get_models()) == {"alice_sig"}


def test_ticker_universe_has_about_5000_bloomberg_style_tickers(emu, fresh_round):
    tickers = signals_api(emu.token("alice")).ticker_universe()
    assert 4800 <= len(tickers) <= 5200
    assert "AAPL US" in tickers
    assert all(re.fullmatch(r"\S+ [A-Z]{2}", t) for t in tickers)
    assert tickers == emu.world.universe(11, fresh_round)


def test_signals_datasets_list_and_download(emu, fresh_round, tmp_path):
    api = signals_api(emu.token("bob"))
    assert api.list_datasets() == [
        "signals/v1.0/live.parquet",
        "signals/v1.0/live_example_preds.parquet",
    ]
    path = api.download_dataset("signals/v1.0/live_example_preds.parquet", str(tmp_path / "e.pq"))
    example = pd.read_parquet(path)
    assert list(example.columns) == ["numerai_ticker", "signal"]


def test_signals_upload_from_file_and_dataframe(emu, player, fresh_round, tmp_path):
    api = player.sapi
    path = tmp_path / "signals.csv"
    signals_predictions(emu.world, fresh_round, 1).to_csv(path, index=False)
    first = api.upload_predictions(str(path), model_id=player.signals)
    second = api.upload_predictions(
        df=signals_predictions(emu.world, fresh_round, 2, n=300), model_id=player.signals
    )
    assert [s["id"] for s in api.submission_ids(player.signals)] == [first, second]
    assert emu.world.selected_submission(player.signals, fresh_round).id == second


def test_signals_upload_needs_at_least_100_universe_tickers(emu, player, fresh_round):
    few = signals_predictions(emu.world, fresh_round, 3, n=50)
    with pytest.raises(ValueError, match="invalid_submission_ids"):
        player.sapi.upload_predictions(df=few, model_id=player.signals)


def test_signals_upload_to_a_classic_model_is_refused(emu, player, fresh_round):
    preds = signals_predictions(emu.world, fresh_round, 4)
    with pytest.raises(ValueError, match="not in tournament 11"):
        player.sapi.upload_predictions(df=preds, model_id=player.classic[0])


def test_signals_performance_stake_and_profile(emu, player, fresh_round):
    api = player.sapi
    api.upload_predictions(
        df=signals_predictions(emu.world, fresh_round, 5), model_id=player.signals
    )
    emu.advance_to_next_close()
    emu.advance_days(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        (perf,) = api.round_model_performances_v2(player.signals)
    assert perf["atRisk"] == Decimal("5")
    assert {s["day"] for s in perf["submissionScores"]} == {1}
    assert api.submission_scores(player.signals)[0]["roundNumber"] == fresh_round
    api.stake_increase(3, player.signals)
    assert api.stake_get(f"{player.username}_s") == Decimal("8")
    assert api.public_user_profile(f"{player.username}_s")["id"] == player.signals
