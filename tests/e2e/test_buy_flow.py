"""The buy flow in the browser at a desktop and a phone width (issue 21): a logged-out
visitor's Buy Now goes through logging in to the review step with the typed choices kept
and ends on a filled order; the review refuses an unaffordable order before Confirm; a
partial fill is reported with what filled and at what price. Screenshots go to
docs/screenshots (review-*, login-return-*, review-refused-*, partial-fill-*)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.test_journeys import (
    become_seller,
    open_fresh_round,
    register_with_funds,
    set_ladder,
)

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WIDTHS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


@pytest.fixture(params=list(WIDTHS))
def width(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def people(chromium: Browser, width: str) -> Iterator[tuple[Page, Page]]:
    """A seller at a desktop, a buyer at the width under test; console errors fail the test."""
    contexts: list[BrowserContext] = [
        chromium.new_context(**WIDTHS["desktop"]),
        chromium.new_context(**WIDTHS[width]),
    ]
    pages = [c.new_page() for c in contexts]
    errors: list[str] = []
    pages[1].on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pages[1].on("pageerror", lambda e: errors.append(str(e)))
    yield pages[0], pages[1]
    for context in contexts:
        context.close()
    assert errors == []


def shoot(page: Page, name: str, width: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)


def test_a_logged_out_buy_now_ends_on_a_filled_order_with_the_choices_kept(
    people: tuple[Page, Page], width: str, demo_server: str, demo_emulator: str
) -> None:
    seller, buyer = people
    model = f"gina_{width}"
    model_url = become_seller(seller, demo_server, demo_emulator, f"gina{width}", model)
    round_number = open_fresh_round(seller, demo_server, demo_emulator)
    set_ladder(seller, model_url, "file", "5 @ 0.5", "0.50 NMR")

    buyer.goto(model_url)  # logged out
    price = buyer.get_by_label(re.compile(r"^Your bid"))
    expect(price).to_be_hidden()  # Buy Now needs no price
    buyer.locator("label[for=kind-bid]").click()
    expect(price).to_be_visible()
    expect(buyer.get_by_role("button", name="Review bid")).to_be_visible()
    buyer.locator(".buy-box").screenshot(path=str(SHOTS / f"buy-box-bid-{width}.png"))
    buyer.locator("label[for=kind-buy]").click()
    expect(price).to_be_hidden()
    buyer.get_by_label("Copies").fill("2")
    buyer.get_by_role("button", name="Buy Now at 0.50").click()
    expect(buyer).to_have_url(re.compile(r"/login\?next="))
    expect(buyer.get_by_role("heading", name="Log in")).to_be_visible()
    expect(buyer.get_by_role("link", name="Create an account")).to_have_attribute(
        "href", re.compile(r"^/register\?next=")
    )
    shoot(buyer, "login-return", width)
    buyer.get_by_label("Username").fill("bob")
    buyer.get_by_label("Password").fill("demo-password")
    buyer.get_by_role("button", name="Log in").click()

    # straight to the review step, the order as typed: no 405, nothing lost
    expect(buyer.get_by_role("heading", name="Review your purchase")).to_be_visible()
    expect(buyer.locator("#review-product")).to_contain_text(
        f"{model} · File Mode · Round {round_number}"
    )
    expect(buyer.locator("#confirm-fill")).to_have_text("2 copies")
    expect(buyer.locator("#confirm-price")).to_have_text("0.50 NMR each")
    expect(buyer.locator("#confirm-notional")).to_have_text("1.00 NMR")
    expect(buyer.locator("#confirm-timeline")).to_contain_text("Seller uploads by")
    expect(buyer.locator("#confirm-timeline")).to_contain_text("UTC")
    expect(buyer.get_by_text("Collateral")).to_have_count(0)
    expect(buyer.get_by_role("link", name="Cancel")).to_be_visible()
    shoot(buyer, "review", width)
    buyer.get_by_role("button", name="Confirm purchase").click()
    expect(buyer.get_by_role("status")).to_contain_text("Bought 2 copies at avg 0.50 NMR.")
    expect(buyer.locator(".rounds [aria-current=page]")).to_contain_text(f"Round {round_number}")
    shoot(buyer, "bought", width)


def test_the_review_refuses_an_unaffordable_order_before_confirm(
    people: tuple[Page, Page], width: str, demo_server: str, demo_emulator: str
) -> None:
    seller, buyer = people
    model = f"hugo_{width}"
    model_url = become_seller(seller, demo_server, demo_emulator, f"hugo{width}", model)
    open_fresh_round(seller, demo_server, demo_emulator)
    set_ladder(seller, model_url, "file", "5 @ 0.5", "0.50 NMR")

    register_with_funds(buyer, demo_server, f"ida{width}", "1")
    buyer.goto(model_url)
    buyer.get_by_label("Copies").fill("4")
    buyer.get_by_role("button", name="Buy Now at 0.50").click()
    expect(
        buyer.get_by_text("You need 2.00 NMR available for this order and have 1.00 NMR.")
    ).to_be_visible()
    expect(buyer.get_by_role("button", name="Confirm purchase")).to_be_disabled()
    expect(buyer.get_by_role("link", name="Add NMR")).to_have_attribute("href", "/wallet")
    shoot(buyer, "review-refused", width)
    buyer.get_by_role("link", name="Cancel").click()  # back where they were, 4 still typed
    expect(buyer.get_by_label("Copies")).to_have_value("4")


def test_a_partial_fill_is_reported_with_what_filled_and_at_what_price(
    people: tuple[Page, Page], width: str, demo_server: str, demo_emulator: str
) -> None:
    seller, buyer = people
    model = f"jade_{width}"
    model_url = become_seller(seller, demo_server, demo_emulator, f"jade{width}", model)
    open_fresh_round(seller, demo_server, demo_emulator)
    set_ladder(seller, model_url, "file", "3 @ 0.5\n2 @ 0.6", "0.50 NMR")

    register_with_funds(buyer, demo_server, f"kai{width}", "20")
    buyer.goto(model_url)
    buyer.get_by_label("Copies").fill("8")
    buyer.get_by_role("button", name="Buy Now at 0.50").click()
    expect(buyer.locator("#confirm-short")).to_contain_text("5 of 8 available at these prices")
    expect(buyer.locator("#confirm-price")).to_have_text(
        "3 × 0.50 NMR, 2 × 0.60 NMR (avg 0.54 NMR)"
    )
    expect(buyer.locator("#confirm-notional")).to_have_text("2.70 NMR")
    shoot(buyer, "review-partial", width)
    buyer.get_by_role("button", name="Confirm purchase").click()
    expect(buyer.get_by_role("status")).to_contain_text(
        "Bought 5 copies at avg 0.54 NMR; the remaining 3 were not filled and nothing is "
        "held for them."
    )
    shoot(buyer, "partial-fill", width)
    buyer.goto(f"{demo_server}/wallet")
    expect(buyer.locator("#available")).to_have_text("17.30 NMR")
    expect(buyer.locator("#held")).to_have_text("0.00 NMR")
