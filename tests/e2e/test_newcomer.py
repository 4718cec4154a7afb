"""A newcomer opens the demo, registers, takes faucet money and sees it on the wallet page."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect

# Screenshots land in docs/screenshots when NMRX_UPDATE_SCREENSHOTS=1, else in a temp dir.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("NMRX_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "nmrx-screenshots"
)


def test_newcomer_registers_takes_faucet_money_and_sees_it(page: Page, demo_server: str) -> None:
    page.goto(demo_server)
    page.get_by_role("link", name="Register").first.click()
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password").fill("a-fine-long-password")
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(re.compile(r"/wallet$"))
    expect(page.get_by_text("Welcome to NMRX, newcomer!")).to_be_visible()
    expect(page.locator("#available")).to_have_text("0.00 NMR")

    page.get_by_label("Amount (NMR, at most 1000)").fill("250")
    page.get_by_role("button", name="Get test NMR").click()
    expect(page.locator("#available")).to_have_text("250.00 NMR")
    expect(page.get_by_role("cell", name="demo faucet")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "wallet-desktop.png"), full_page=True)


def test_refusals_are_shown_to_the_user(page: Page, demo_server: str) -> None:
    page.goto(f"{demo_server}/register")
    page.get_by_label("Username").fill("weakling")
    page.get_by_label("Password").fill("password123")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("alert")).to_contain_text("password is too weak")

    page.goto(f"{demo_server}/login")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill("demo-password")
    page.get_by_role("button", name="Log in").click()
    before = page.locator("#available").inner_text()
    page.get_by_label("Amount (NMR)", exact=True).fill("100000")
    page.get_by_role("button", name="Withdraw").click()
    expect(page.get_by_role("status")).to_contain_text("insufficient funds")
    expect(page.locator("#available")).to_have_text(before)


def test_login_page_shows_demo_logins_on_a_phone(chromium, demo_server: str) -> None:  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(f"{demo_server}/login")
    expect(page.get_by_role("heading", name="Demo logins")).to_be_visible()
    expect(page.get_by_role("cell", name="alice", exact=True)).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "login-phone.png"), full_page=True)
    context.close()
