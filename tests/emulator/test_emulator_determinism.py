"""Same seed, same world."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from emu_helpers import classic_api, classic_predictions
from numerapi import base_api

from numerai_emulator import CLASSIC, SIGNALS, EmulatorServer, World

START = datetime(2025, 3, 4, 13, 5, tzinfo=UTC)  # a Tuesday, round open


def _score_after_resolution(emu: EmulatorServer, preds: pd.DataFrame, monkeypatch) -> list:
    monkeypatch.setattr(base_api, "API_TOURNAMENT_URL", emu.url)
    api = classic_api(emu.token("carol"))
    model_id = api.get_models()["carol_m1"]
    api.upload_predictions(df=preds, model_id=model_id)
    emu.world.clock.set(emu.world.current_round().resolve_time)
    return [(s["day"], s["displayName"], s["value"]) for s in api.submission_scores(model_id)]


def test_two_emulators_with_one_seed_give_identical_worlds_and_scores(monkeypatch):
    with (
        EmulatorServer(seed=42, start=START, frozen=True) as one,
        EmulatorServer(seed=42, start=START, frozen=True) as two,
    ):
        number = one.world.current_round().number
        assert number == two.world.current_round().number
        for tournament in (CLASSIC, SIGNALS):
            assert one.world.universe(tournament, number) == two.world.universe(tournament, number)
            pd.testing.assert_series_equal(
                one.world.targets(tournament, number), two.world.targets(tournament, number)
            )
        assert one.token("alice") == two.token("alice")
        assert one.world.model("alice_m1").id == two.world.model("alice_m1").id
        preds = classic_predictions(one.world, number, 99)
        first = _score_after_resolution(one, preds, monkeypatch)
        second = _score_after_resolution(two, preds, monkeypatch)
        assert first == second and len(first) == 40


def test_a_different_seed_gives_a_different_world():
    number = 1000
    one, other = World(1, start=START, frozen=True), World(2, start=START, frozen=True)
    assert one.universe(CLASSIC, number) != other.universe(CLASSIC, number)
    assert one.token("alice") != other.token("alice")


def test_each_round_has_its_own_universe():
    world = World(5, start=START, frozen=True)
    assert world.universe(CLASSIC, 1000) != world.universe(CLASSIC, 1001)
    assert world.universe(CLASSIC, 1000) == World(5, start=START).universe(CLASSIC, 1000)
