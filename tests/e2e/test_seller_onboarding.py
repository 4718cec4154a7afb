"""A seller verifies a model in the browser (bio code), locks collateral; a demo seller sees
models verified by their Numerai key; the public seller page lists them."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import emulator_admin
from tests.e2e.test_newcomer import SCREENSHOTS


def register(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("a-fine-long-password")
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(re.compile(r"/wallet$"))


def test_a_new_seller_verifies_a_model_by_its_bio_and_locks_collateral(
    page: Page, demo_server: str, demo_emulator: str
) -> None:
    emulator_admin(demo_emulator, "POST", "/accounts", {"username": "sam_numerai"})
    emulator_admin(
        demo_emulator,
        "POST",
        "/models",
        {"account": "sam_numerai", "name": "sam_alpha", "tournament": 8},
    )
    register(page, demo_server, "sam")
    page.get_by_role("button", name="Get test NMR").click()

    page.get_by_role("link", name="Sell").click()
    page.get_by_label("Model name on Numerai").fill("ghost_model")
    page.get_by_role("button", name="Get a verification code").click()
    expect(page.get_by_role("status")).to_contain_text(
        "no classic model named 'ghost_model' on Numerai"
    )

    page.get_by_label("Model name on Numerai").fill("sam_alpha")
    page.get_by_role("button", name="Get a verification code").click()
    code = page.locator("code[data-code]").first.inner_text()
    assert code.startswith("nmrx-verify-")

    page.get_by_role("button", name="Check now").click()
    expect(page.get_by_role("status")).to_contain_text("was not found in the model's bio")

    emulator_admin(demo_emulator, "POST", "/models/sam_alpha/bio", {"bio": f"Sam's model {code}"})
    page.get_by_role("button", name="Check now").click()
    expect(page.get_by_role("status")).to_contain_text("Verified")
    expect(page.get_by_role("cell", name="sam_alpha", exact=True)).to_be_visible()

    page.get_by_label("Lock (NMR)", exact=True).fill("12")
    page.get_by_role("button", name="Lock collateral", exact=True).click()
    expect(page.locator("#collateral-locked")).to_have_text("12.00 NMR")
    expect(page.get_by_text("✓ you may list")).to_be_visible()
    page.get_by_label("Unlock (NMR)", exact=True).fill("5")
    page.get_by_role("button", name="Unlock collateral").click()
    expect(page.get_by_role("status")).to_contain_text("a seller must keep 10.00 NMR locked")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "sell-desktop.png"), full_page=True)

    page.goto(f"{demo_server}/sellers/sam")
    expect(page.get_by_role("cell", name="sam_alpha", exact=True)).to_be_visible()


def test_demo_seller_models_are_verified_by_key_and_the_key_secret_is_never_shown(
    page: Page, demo_server: str
) -> None:
    page.goto(f"{demo_server}/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("demo-password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Numerai keys").click()
    expect(page.get_by_role("cell", name="alice_m1, alice_m2, alice_sig")).to_be_visible()
    assert "$" not in page.locator("table").inner_text()
    page.get_by_role("link", name="Sell").click()
    expect(page.get_by_role("link", name="alice_sig", exact=True)).to_be_visible()
    # The demo seeds what the seller's ladders reserve (open asks count, market-rules §5.1);
    # other tests advance the demo clock, so a penalty may have been taken since. The sell
    # page must show what the ledger holds (the wallet's figure).
    locked = page.locator("#collateral-locked").inner_text()
    assert re.fullmatch(r"\d+\.\d{2} NMR", locked), locked
    assert float(locked.split()[0]) >= 10  # at least the minimum
    page.get_by_role("link", name="Wallet").click()
    expect(page.locator("#collateral")).to_have_text(locked)
