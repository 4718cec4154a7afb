"""The operator console in the browser (market-rules §13): the demo's operator finds an
account, suspends it (its open orders are cancelled, its session, login and API token
refused), reads the decision in the audit trail and reinstates it; at desktop and phone
widths, with screenshots (docs/screenshots/operator-desktop.png, operator-phone.png)."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.test_newcomer import SCREENSHOTS

PASSWORD = "a-fine-long-password"
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def log_in(page: Page, base: str, username: str, password: str = "demo-password") -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def trader_with_an_open_bid(base: str, username: str) -> tuple[str, int]:
    """A new account with test NMR and one resting bid, through the JSON API: its token and
    the bid's order id."""
    api = f"{base}/api/v1"
    r = httpx.post(f"{api}/auth/register", json={"username": username, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = httpx.post(
        f"{api}/auth/tokens",
        json={
            "username": username,
            "password": PASSWORD,
            "name": "bot",
            "scopes": ["read", "trade"],
        },
    )
    token = r.json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{api}/wallet/faucet", json={"amount": "20"}, headers=auth).is_success
    for instrument in httpx.get(f"{api}/instruments", params={"mode": "file"}).json():
        r = httpx.post(
            f"{api}/orders",
            json={
                "instrument_id": instrument["id"],
                "side": "bid",
                "quantity": 1,
                "price": "0.01",
                "order_type": "post_only",
            },
            headers=auth,
        )
        if r.status_code == 201:
            return token, r.json()["id"]
    pytest.fail("no open File Mode book took a bid")


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_operator_suspends_an_account_and_reinstates_it(
    chromium: Browser, demo_server: str, width: str
) -> None:
    name = f"suspect_{width}"
    token, order_id = trader_with_an_open_bid(demo_server, name)
    auth = {"Authorization": f"Bearer {token}"}
    options = DESKTOP if width == "desktop" else PHONE
    op_context = chromium.new_context(**options)  # type: ignore[arg-type]
    user_context = chromium.new_context(**options)  # type: ignore[arg-type]
    try:
        user = user_context.new_page()
        log_in(user, demo_server, name, PASSWORD)
        expect(user).to_have_url(re.compile(r"/wallet$"))
        expect(user.locator("#held")).to_have_text("0.01 NMR")

        op = op_context.new_page()
        log_in(op, demo_server, "operator")
        op.goto(f"{demo_server}/operator")
        expect(op.get_by_role("heading", name="Reserves")).to_be_visible()
        expect(op.get_by_text("on-chain reserves arrive with real NMR")).to_be_visible()
        op.get_by_label("Find an account by username").fill(name)
        op.get_by_role("button", name="Search").click()
        op.get_by_role("link", name=name, exact=True).click()
        expect(op.locator("#open-orders")).to_contain_text(f"#{order_id}")
        expect(op.locator("#account-status")).to_have_text("active")

        op.locator("#suspend-reason").fill("spoofing the book with bids it never meant to fill")
        op.get_by_role("button", name=f"Suspend {name}").click()
        expect(op.get_by_role("status")).to_contain_text(f"{name} is suspended")
        expect(op.locator("#account-status")).to_have_text("suspended")
        expect(op.locator("#open-orders")).to_contain_text("No open orders.")
        expect(op.locator("#held")).to_have_text("0.00 NMR")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        op.screenshot(path=str(SCREENSHOTS / f"operator-{width}.png"), full_page=True)

        # The order was cancelled by the market, the session ended, login and token refused.
        user.goto(f"{demo_server}/wallet")
        expect(user).to_have_url(re.compile(r"/login"))
        expect(user.get_by_text("This account is suspended by the operator")).to_be_visible()
        log_in(user, demo_server, name, PASSWORD)
        expect(user.get_by_text("suspended by the operator: it cannot log in")).to_be_visible()
        r = httpx.get(f"{demo_server}/api/v1/orders/{order_id}", headers=auth)
        assert r.status_code == 403 and "suspended" in r.json()["error"]

        op.goto(f"{demo_server}/operator/audit?subject={name}")
        expect(op.get_by_role("cell", name="account.suspend")).to_be_visible()
        expect(
            op.get_by_role("cell", name="spoofing the book with bids it never meant to fill")
        ).to_be_visible()

        op.goto(f"{demo_server}/operator?q={name}")
        op.get_by_role("link", name=name, exact=True).first.click()
        op.locator("#reinstate-reason").fill("cleared after talking to them")
        op.get_by_role("button", name=f"Reinstate {name}").click()
        expect(op.get_by_role("status")).to_contain_text(f"{name} is reinstated")
        expect(op.locator("#account-status")).to_have_text("active")

        log_in(user, demo_server, name, PASSWORD)
        expect(user).to_have_url(re.compile(r"/wallet$"))
        order = httpx.get(f"{demo_server}/api/v1/orders/{order_id}", headers=auth).json()
        assert (order["state"], order["cancel_reason"]) == ("cancelled", "suspended")
    finally:
        op_context.close()
        user_context.close()
