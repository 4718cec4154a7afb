"""Scores come from the selected file, computed with numerai-tools."""

from __future__ import annotations

import pytest
from emu_helpers import classic_predictions, signals_predictions
from numerai_tools.scoring import correlation_contribution, numerai_corr
from numerai_tools.submissions import clean_submission

from numerai_emulator import CLASSIC, SIGNALS, calendar


def _resolve(emu, round_number: int) -> None:
    rt = calendar.round_times(round_number)
    emu.world.clock.set(max(emu.world.now(), rt.resolve_time))


def _scores(api, model_id: str, round_number: int) -> dict[tuple[int, str], float]:
    return {
        (s["day"], s["displayName"]): s["value"]
        for s in api.submission_scores(model_id)
        if s["roundNumber"] == round_number
    }


def test_resolved_score_equals_numerai_corr_of_the_selected_file(emu, player, fresh_round):
    api = player.napi
    model_id = player.classic[0]
    first = classic_predictions(emu.world, fresh_round, 11)
    last = classic_predictions(emu.world, fresh_round, 12)
    api.upload_predictions(df=first, model_id=model_id)
    api.upload_predictions(df=last, model_id=model_id)  # re-upload: this one is selected
    _resolve(emu, fresh_round)

    targets = emu.world.targets(CLASSIC, fresh_round)
    preds = last.set_index("id")[["prediction"]]
    expected_corr = numerai_corr(preds, targets)["prediction"]
    expected_mmc = correlation_contribution(
        preds, emu.world.example_predictions(CLASSIC, fresh_round), targets
    )["prediction"]
    scores = _scores(api, model_id, fresh_round)
    assert scores[(20, "v2_corr20")] == pytest.approx(expected_corr, abs=1e-12)
    assert scores[(20, "mmc")] == pytest.approx(expected_mmc, abs=1e-12)
    not_selected = numerai_corr(first.set_index("id")[["prediction"]], targets)["prediction"]
    assert scores[(20, "v2_corr20")] != pytest.approx(not_selected, abs=1e-9)


def test_uploading_again_changes_the_selected_submission_and_the_score(emu, player, fresh_round):
    api = player.napi
    a, b = player.classic
    api.upload_predictions(df=classic_predictions(emu.world, fresh_round, 21), model_id=a)
    api.upload_predictions(df=classic_predictions(emu.world, fresh_round, 21), model_id=b)
    api.upload_predictions(df=classic_predictions(emu.world, fresh_round, 22), model_id=b)
    emu.advance_to_next_close()
    emu.world.clock.set(emu.world.current_round().score_time)
    first_a, first_b = _scores(api, a, fresh_round), _scores(api, b, fresh_round)
    assert first_a[(1, "v2_corr20")] != first_b[(1, "v2_corr20")]
    selected = [s for s in api.get_submission_filenames(model_id=b)]
    assert len(selected) == 1


def test_one_file_on_two_models_scores_identically_every_day(emu, player, fresh_round):
    api = player.napi
    a, b = player.classic
    preds = classic_predictions(emu.world, fresh_round, 31)
    api.upload_predictions(df=preds, model_id=a)
    api.upload_predictions(df=preds, model_id=b)
    emu.advance_to_next_close()
    emu.world.clock.set(emu.world.current_round().score_time)
    day_one_a, day_one_b = _scores(api, a, fresh_round), _scores(api, b, fresh_round)
    assert day_one_a == day_one_b and len(day_one_a) == 2
    _resolve(emu, fresh_round)
    assert _scores(api, a, fresh_round) == _scores(api, b, fresh_round)


def test_first_daily_score_is_deterministic_and_drifts_to_the_final(emu, player, fresh_round):
    world = emu.world
    preds = classic_predictions(world, fresh_round, 41)
    player.napi.upload_predictions(df=preds, model_id=player.classic[0])
    sub = world.selected_submission(player.classic[0], fresh_round)
    from numerai_emulator.scoring import clean_predictions, score

    data = world.round_data(CLASSIC, fresh_round)
    recomputed = score(data, clean_predictions(data, preds))
    assert recomputed == sub.scores
    daily = sub.scores.daily["v2_corr20"]
    assert len(daily) == 20 and daily[-1] == sub.scores.final["v2_corr20"]
    assert daily[0] != daily[-1]
    assert abs(daily[18] - daily[-1]) < abs(daily[0] - daily[-1]) + 1e-12


def test_signals_score_equals_numerai_corr_of_the_cleaned_file(emu, player, fresh_round):
    preds = signals_predictions(emu.world, fresh_round, 51, n=1500)
    player.sapi.upload_predictions(df=preds, model_id=player.signals)
    _resolve(emu, fresh_round)
    universe = emu.world.universe(SIGNALS, fresh_round)
    import pandas as pd

    cleaned = clean_submission(
        pd.DataFrame({"numerai_ticker": universe}),
        preds,
        "numerai_ticker",
        "signal",
        rank_and_fill=True,
    )
    expected = numerai_corr(cleaned.to_frame(), emu.world.targets(SIGNALS, fresh_round))["signal"]
    scores = _scores(player.sapi, player.signals, fresh_round)
    assert scores[(20, "v2_corr20")] == pytest.approx(expected, abs=1e-12)
