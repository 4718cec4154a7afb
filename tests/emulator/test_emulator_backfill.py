"""Score history for demos: backfilled rounds score like uploads and are deterministic."""

from __future__ import annotations

from numerai_emulator import CLASSIC, World


def test_backfill_gives_a_model_scores_in_past_rounds_deterministically() -> None:
    def history(seed: int) -> dict[int, float]:
        world = World(seed)
        world.create_account("hist")
        model = world.create_model("hist", "hist_m", tournament=CLASSIC)
        assert world.backfill("hist_m", 5, skill=0.2) == 5
        return {
            n: s.scores.final["v2_corr20"] for n, s in world.selected_by_round(model.id).items()
        }

    first, again = history(3), history(3)
    assert first == again and len(first) == 5
    assert sum(first.values()) / 5 > 0  # skill gives positive scores on average
    latest = max(first)
    assert latest < World(3).current_round().number
