"""The whole journey in the browser, File Mode and Stake Mode: a seller registers, verifies a
model with a Numerai key, locks collateral and sets a ladder; a buyer buys through the
confirmation page; the seller uploads; the buyer downloads the file (File Mode) or the
platform submits it to the buyer's slot (Stake Mode); the demo clock moves the round to its
close and to its first daily score; the fill settles; the buyer reviews the purchase.
Balances are read from the wallet pages and must be exactly what one settlement gives.

Also the refusals a user meets on the way, in the browser: insufficient funds, a bid after
trading closed, an upload after the deadline.

Each journey starts by opening a fresh round with the demo control, so it does not depend
on where earlier tests left the demo's clock; each uses its own Numerai accounts."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from nmrx.platform.numerai import NumeraiGateway
from tests.e2e.conftest import emulator_admin
from tests.e2e.test_newcomer import SCREENSHOTS

PASSWORD = "a-fine-long-password"
WORKER_WAIT = 300.0  # seconds, generous: the demo worker runs its duties at least once a minute


@pytest.fixture
def browser_pages(chromium: Browser) -> Iterator[tuple[Page, Page]]:
    """Two people at two browsers: a seller and a buyer."""
    contexts = [chromium.new_context(viewport={"width": 1280, "height": 900}) for _ in range(2)]
    yield contexts[0].new_page(), contexts[1].new_page()
    for context in contexts:
        context.close()


def numerai_account(emulator: str, username: str, model: str) -> dict:
    """What the person already has on Numerai: an account, a model, an API key."""
    emulator_admin(emulator, "POST", "/accounts", {"username": username})
    emulator_admin(
        emulator, "POST", "/models", {"account": username, "name": model, "tournament": 8}
    )
    return emulator_admin(emulator, "POST", "/keys", {"account": username})


def register(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(re.compile(r"/wallet$"))


def take_test_nmr(page: Page, base: str, amount: str) -> None:
    page.goto(f"{base}/wallet")
    page.get_by_label("Amount (NMR, at most 1000)").fill(amount)
    page.get_by_role("button", name="Get test NMR").click()
    expect(page.locator("#available")).to_have_text(f"{float(amount):.2f} NMR")


def register_with_funds(page: Page, base: str, username: str, faucet: str) -> None:
    register(page, base, username)
    take_test_nmr(page, base, faucet)


def add_numerai_key(page: Page, base: str, key: dict, models: str) -> None:
    page.goto(f"{base}/numerai-keys")
    page.get_by_label("Public id").fill(key["public_id"])
    page.get_by_label("Secret").fill(key["secret"])
    page.get_by_role("button", name="Save key").click()
    expect(page.get_by_role("status").filter(has_text="verified")).to_contain_text(
        "1 model(s) verified"
    )
    expect(page.get_by_role("cell", name=models, exact=True)).to_be_visible()
    assert key["secret"] not in page.content()


def become_seller(page: Page, base: str, emulator: str, username: str, model: str) -> str:
    """Register, verify the model by key, lock collateral; returns the model page's URL."""
    key = numerai_account(emulator, f"{username}_numerai", model)
    register_with_funds(page, base, username, "100")
    add_numerai_key(page, base, key, model)
    page.get_by_role("link", name="Sell").click()
    page.get_by_label("Lock (NMR)", exact=True).fill("20")
    page.get_by_role("button", name="Lock collateral", exact=True).click()
    expect(page.locator("#collateral-locked")).to_have_text("20.00 NMR")
    expect(page.get_by_text("✓ you may list")).to_be_visible()
    return base + page.get_by_role("link", name=model, exact=True).get_attribute("href")


def demo_clock(page: Page, base: str, button: str, days: str | None = None) -> None:
    page.goto(f"{base}/demo")
    if days is not None:
        page.get_by_label("Days").fill(days)
    page.get_by_role("button", name=button).click()
    expect(page.get_by_role("status")).to_contain_text("Clock moved")


def open_fresh_round(page: Page, base: str, emulator: str) -> int:
    demo_clock(page, base, "Next round opens")
    return NumeraiGateway(emulator).current_round().number


def set_ladder(page: Page, model_url: str, mode: str, levels: str, best_ask: str) -> None:
    page.goto(f"{model_url}?mode={mode}")
    page.get_by_label("Levels").fill(levels)
    page.get_by_label("also replace my asks in books already open").check()
    page.get_by_role("button", name="Save ladder").click()
    expect(page.locator("#best-ask")).to_have_text(best_ask)


def predictions_file(emulator: str, round_number: int, path: Path, seed: int) -> Path:
    ids = NumeraiGateway(emulator).live_universe("classic", round_number)
    rng = np.random.default_rng(seed)
    pd.DataFrame({"id": ids, "prediction": rng.uniform(0.01, 0.99, len(ids))}).to_csv(
        path, index=False
    )
    return path


def upload(page: Page, base: str, model: str, path: Path) -> Locator:
    page.goto(f"{base}/sell")
    page.get_by_label(f"Predictions for {model}").set_input_files(str(path))
    page.get_by_role("row", name=model).get_by_role("button", name="Upload this round").click()
    return page.get_by_role("status")


def reload_until(page: Page, url: str, where: Callable[[], Locator], text: str) -> None:
    """The worker acts on its own time: look again until ``where()`` shows ``text``."""
    deadline = time.monotonic() + WORKER_WAIT
    while True:
        page.goto(url)
        if text in where().inner_text():
            return
        if time.monotonic() > deadline:
            expect(where()).to_contain_text(text)  # fails, showing what the page says
        time.sleep(1)


def fill_row(page: Page, model: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=model, exact=True))


def review(page: Page, model_url: str, text: str) -> None:
    page.goto(model_url)
    page.get_by_label("Your purchase").select_option(index=0)
    page.get_by_label("4 ★★★★").check()
    page.get_by_label("Review", exact=True).fill(text)
    page.get_by_role("button", name="Post review").click()
    expect(page.get_by_role("article").filter(has_text=text)).to_contain_text("Verified purchase")


def test_file_mode_journey_from_registration_to_review(
    browser_pages: tuple[Page, Page], demo_server: str, demo_emulator: str, tmp_path: Path
) -> None:
    seller, buyer = browser_pages
    model_url = become_seller(seller, demo_server, demo_emulator, "fiona", "fiona_file")
    round_number = open_fresh_round(seller, demo_server, demo_emulator)
    set_ladder(seller, model_url, "file", "3 @ 0.5", "0.50 NMR")

    # The buyer: no money yet, so the review refuses Buy Now before Confirm; nothing moves.
    register(buyer, demo_server, "felix")
    buyer.goto(model_url)
    buyer.get_by_role("button", name="Buy Now at 0.50").click()
    expect(buyer.locator("#confirm-hold")).to_contain_text("0.50 NMR from your available 0.00 NMR")
    expect(buyer.get_by_role("button", name="Confirm")).to_be_disabled()
    expect(buyer.get_by_role("link", name="Add NMR")).to_have_attribute("href", "/wallet")
    buyer.goto(model_url)
    expect(buyer.locator("#best-ask")).to_have_text("0.50 NMR")

    take_test_nmr(buyer, demo_server, "50")
    buyer.goto(model_url)
    expect(buyer.locator(".rounds [aria-current=page]")).to_contain_text(f"Round {round_number}")
    buyer.get_by_role("button", name="Buy Now at 0.50").click()
    expect(buyer.locator("#confirm-price")).to_have_text("0.50 NMR each")
    expect(buyer.locator("#confirm-notional")).to_have_text("0.50 NMR")
    expect(buyer.locator("#confirm-collateral")).to_have_count(0)  # File Mode has none
    expect(buyer.get_by_text("0.01 NMR, paid by the seller when the trade settles")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    buyer.screenshot(path=str(SCREENSHOTS / "confirm-desktop.png"), full_page=True)
    buyer.get_by_role("button", name="Confirm").click()
    expect(buyer.get_by_role("status")).to_contain_text("Bought 1 copy at avg 0.50 NMR.")
    buyer.goto(f"{demo_server}/portfolio")
    expect(fill_row(buyer, "fiona_file")).to_contain_text("pending delivery")

    # The seller sees the sale and uploads; the buyer downloads exactly those bytes.
    seller.goto(f"{demo_server}/sales")
    expect(fill_row(seller, "fiona_file")).to_contain_text("pending delivery")
    good = predictions_file(demo_emulator, round_number, tmp_path / "fiona.csv", seed=1)
    expect(upload(seller, demo_server, "fiona_file", good)).to_contain_text(
        f"Accepted fiona.csv for round {round_number}"
    )
    buyer.goto(f"{demo_server}/deliveries")
    row = fill_row(buyer, "fiona_file")
    expect(row).to_contain_text("delivered")
    with buyer.expect_download() as download:
        row.get_by_role("link", name="Download").click()
    assert Path(download.value.path()).read_bytes() == good.read_bytes()

    # The round closes: a File Mode sale without a slot is released at delivery.
    demo_clock(seller, demo_server, "Round closes")
    reload_until(
        buyer, f"{demo_server}/portfolio", lambda: fill_row(buyer, "fiona_file"), "released"
    )
    fill_row(buyer, "fiona_file").get_by_role("link").click()
    expect(buyer.locator(".timeline")).to_contain_text("pending delivery")
    expect(buyer.locator(".timeline")).to_contain_text("released")
    buyer.goto(f"{demo_server}/wallet")
    expect(buyer.locator("#available")).to_have_text("49.50 NMR")
    expect(buyer.locator("#held")).to_have_text("0.00 NMR")

    # After the deadline: uploading again is refused with the window, and nothing changes.
    late = predictions_file(demo_emulator, round_number, tmp_path / "late.csv", seed=2)
    status = upload(seller, demo_server, "fiona_file", late)
    expect(status).to_contain_text(f"uploads for round {round_number} are closed")
    expect(seller.get_by_role("cell", name="fiona.csv")).to_be_visible()

    seller.goto(f"{demo_server}/wallet")
    expect(seller.locator("#available")).to_have_text(
        "80.49 NMR"
    )  # 100 − 20 locked + 0.50 − 0.01 fee
    expect(seller.locator("#collateral")).to_have_text("20.00 NMR")

    review(buyer, model_url, "Delivered on time, clean file.")
    seller.goto(f"{demo_server}/sellers/fiona")
    expect(seller.get_by_text("Delivered on time, clean file.")).to_be_visible()


def test_stake_mode_journey_submits_to_the_buyers_slot_and_settles_on_scores(
    browser_pages: tuple[Page, Page], demo_server: str, demo_emulator: str, tmp_path: Path
) -> None:
    seller, buyer = browser_pages
    model_url = become_seller(seller, demo_server, demo_emulator, "stella", "stella_stake")
    round_number = open_fresh_round(seller, demo_server, demo_emulator)
    set_ladder(seller, model_url, "stake", "100 @ 0.05", "0.05 NMR")

    slot_key = numerai_account(demo_emulator, "sid_numerai", "sid_slot")
    register_with_funds(buyer, demo_server, "sid", "100")
    add_numerai_key(buyer, demo_server, slot_key, "sid_slot")
    buyer.goto(f"{model_url}?mode=stake")
    buyer.get_by_label("NMR of allowance").fill("50")
    buyer.get_by_label("Your slot (required)").select_option(label="sid_slot")
    buyer.get_by_role("button", name="Buy Now at 0.05").click()
    expect(buyer.locator("#confirm-notional")).to_have_text("2.50 NMR")
    expect(buyer.locator("#confirm-collateral")).to_contain_text("2.50 NMR")
    expect(buyer.locator("#confirm-hold")).to_contain_text(
        "5.00 NMR from your available 100.00 NMR"
    )
    expect(buyer.get_by_text("sid_slot — we submit the file there automatically")).to_be_visible()
    buyer.get_by_role("button", name="Confirm").click()
    expect(buyer.get_by_role("status")).to_contain_text(
        "Bought 50 NMR of allowance at avg 0.05 NMR."
    )
    buyer.goto(f"{demo_server}/wallet")
    expect(buyer.locator("#available")).to_have_text("95.00 NMR")

    # The seller uploads (and submits to their own model); the platform submits the same
    # file to the buyer's slot, which the buyer never downloads.
    good = predictions_file(demo_emulator, round_number, tmp_path / "stella.csv", seed=3)
    status = upload(seller, demo_server, "stella_stake", good)
    expect(status).to_contain_text(f"Accepted stella.csv for round {round_number}")
    expect(status).to_contain_text("Also submitted to your own model on Numerai")
    reload_until(
        buyer,
        f"{demo_server}/deliveries",
        lambda: fill_row(buyer, "stella_stake"),
        "Numerai submission",
    )
    row = fill_row(buyer, "stella_stake")
    expect(row).to_contain_text("submission to your slot")
    expect(row.get_by_role("link", name="Download")).to_have_count(0)
    sha = hashlib.sha256(good.read_bytes()).hexdigest()
    slot = emulator_admin(demo_emulator, "GET", "/models/sid_slot")
    assert [s["sha256"] for s in slot["submissions"] if s["round"] == round_number] == [sha]

    # Close the round, then let the first daily scores come out: the scores of the seller's
    # model and the buyer's slot agree, so the escrow goes to the seller and the buyer's
    # collateral comes back.
    demo_clock(seller, demo_server, "Round closes")
    stake_fill = lambda: fill_row(buyer, "stella_stake")  # noqa: E731
    reload_until(buyer, f"{demo_server}/portfolio", stake_fill, "awaiting scores")
    # The buyer watches the portfolio while the seller moves the clock in another browser:
    # the settlement arrives by server-sent events, without a reload.
    buyer.evaluate("window.notReloaded = true")
    demo_clock(seller, demo_server, "Advance days", days="4")
    expect(stake_fill()).to_contain_text("released", timeout=WORKER_WAIT * 1000)
    expect(stake_fill()).to_contain_text("consistency check passed")
    expect(buyer.locator("#fill-live")).to_contain_text("is now released")
    assert buyer.evaluate("window.notReloaded") is True
    stake_fill().get_by_role("link").click()
    timeline = buyer.locator(".timeline")
    for state in ("pending delivery", "delivered", "awaiting scores", "released"):
        expect(timeline).to_contain_text(state)
    buyer.screenshot(path=str(SCREENSHOTS / "fill-timeline-desktop.png"), full_page=True)
    buyer.goto(f"{demo_server}/wallet")
    expect(buyer.locator("#available")).to_have_text("97.50 NMR")  # 100 − 2.50 paid
    expect(buyer.locator("#collateral")).to_have_text("0.00 NMR")
    seller.goto(f"{demo_server}/wallet")
    expect(seller.locator("#available")).to_have_text("82.45 NMR")  # 100 − 20 + 2.50 − 0.05 fee

    review(buyer, f"{model_url}?mode=stake", "Scores matched what was sold.")


def test_a_bid_after_trading_closed_is_refused_in_the_browser(
    browser_pages: tuple[Page, Page], demo_server: str, demo_emulator: str
) -> None:
    _, buyer = browser_pages
    register_with_funds(buyer, demo_server, "latecomer", "10")
    open_fresh_round(buyer, demo_server, demo_emulator)
    buyer.goto(f"{demo_server}/markets")
    buyer.get_by_role("link", name="alice_m1", exact=True).first.click()
    # File Mode: a Stake Mode bid is refused on review without a slot of one's own
    buyer.get_by_role("link", name=re.compile(r"^File Mode")).click()
    round_label = buyer.locator(".rounds [aria-current=page]").inner_text()
    round_number = int(re.search(r"Round (\d+)", round_label).group(1))
    buyer.locator("label[for=kind-bid]").click()
    buyer.get_by_label(re.compile(r"^Your bid \(NMR per")).fill("0.01")
    buyer.get_by_role("button", name="Review bid").click()
    expect(buyer.get_by_role("heading", name="Review your bid")).to_be_visible()

    # While the buyer reads the confirmation, Numerai's clock passes the trading deadline.
    emulator_admin(demo_emulator, "POST", "/clock/advance", {"to": "next_close"})
    buyer.get_by_role("button", name="Confirm").click()
    expect(buyer.get_by_role("status")).to_contain_text(
        f"trading on round {round_number} closed at"
    )
    buyer.goto(f"{demo_server}/wallet")
    expect(buyer.locator("#available")).to_have_text("10.00 NMR")
    expect(buyer.locator("#held")).to_have_text("0.00 NMR")
