"""A seller uploads the round's predictions in the browser; a bad file is refused with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
from playwright.sync_api import Page, expect

from nmrx.platform.numerai import NumeraiGateway


def test_alice_uploads_this_rounds_predictions_and_a_bad_file_is_refused(
    page: Page, demo_server: str, demo_emulator: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{demo_server}/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("demo-password")
    page.get_by_role("button", name="Log in").click()
    # Other tests move the demo clock: open a fresh round, as a visitor would on /demo.
    page.goto(f"{demo_server}/demo")
    page.get_by_role("button", name="Next round opens").click()
    expect(page.get_by_role("status")).to_contain_text("Clock moved")

    gateway = NumeraiGateway(demo_emulator)
    round_number = gateway.current_round().number
    ids = gateway.live_universe("classic", round_number)
    good = tmp_path / "alice_preds.csv"
    pd.DataFrame({"id": ids, "prediction": np.linspace(0.01, 0.99, len(ids))}).to_csv(
        good, index=False
    )
    bad = tmp_path / "broken.csv"
    pd.DataFrame({"id": ids[:-3], "prediction": np.linspace(0.01, 0.99, len(ids) - 3)}).to_csv(
        bad, index=False
    )

    page.goto(f"{demo_server}/sell")

    page.get_by_label("Predictions for alice_m1").set_input_files(str(bad))
    page.get_by_role("row", name="alice_m1").get_by_role("button", name="Upload this round").click()
    expect(page.get_by_role("status")).to_contain_text("3 of the round's")
    expect(page.get_by_role("status")).to_contain_text("live ids are missing")

    page.get_by_label("Predictions for alice_m1").set_input_files(str(good))
    page.get_by_role("row", name="alice_m1").get_by_role("button", name="Upload this round").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Accepted alice_preds.csv for round {round_number}"
    )
    expect(page.get_by_role("status")).to_contain_text(
        "Also submitted to your own model on Numerai"
    )
    expect(page.get_by_role("cell", name="alice_preds.csv")).to_be_visible()
