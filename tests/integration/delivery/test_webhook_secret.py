"""A webhook's signing secret is shown in full only when it is created or rotated; reading
the webhook (a read-only token can) shows it masked (issue 14, finding 16)."""

from __future__ import annotations

from sqlalchemy import select

from nmrx.delivery import webhooks
from nmrx.delivery.tables import SellerWebhook
from nmrx.platform.bootstrap import Container
from tests.support.builders import api_client, bearer, make_token, make_user

URL = "https://1.1.1.1/nmrx-hook"  # a public address: saved, never called here


def stored_secret(market: Container, user_id: int) -> str:
    with market.db.transaction() as s:
        row = s.scalars(select(SellerWebhook).where(SellerWebhook.user_id == user_id)).one()
        return market.key_box.decrypt_text(
            row.secret_ciphertext, associated=f"user:{user_id}:webhook"
        )


def test_only_creation_and_rotation_show_the_secret(market: Container) -> None:
    seller = make_user(market)
    client = api_client(market)
    full = bearer(make_token(market, seller))
    read_only = bearer(make_token(market, seller, scopes="read"))

    created = client.put("/api/v1/webhook", json={"url": URL}, headers=full)
    assert created.status_code == 200, created.text
    secret = created.json()["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert secret == stored_secret(market, seller.id)

    for headers in (read_only, full):
        shown = client.get("/api/v1/webhook", headers=headers)
        assert shown.status_code == 200, shown.text
        assert shown.json()["url"] == URL
        assert shown.json()["secret"] == f"whsec_…{secret[-4:]}"
        assert secret not in shown.text and secret[6:20] not in shown.text
    changed = client.put("/api/v1/webhook", json={"url": URL + "2"}, headers=full)
    assert changed.status_code == 200 and changed.json()["secret"] == f"whsec_…{secret[-4:]}"
    assert stored_secret(market, seller.id) == secret  # changing the URL keeps the secret

    assert client.post("/api/v1/webhook/secret", headers=read_only).status_code == 403
    rotated = client.post("/api/v1/webhook/secret", headers=full)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != secret and new == stored_secret(market, seller.id)
    assert client.get("/api/v1/webhook", headers=read_only).json()["secret"] == (
        f"whsec_…{new[-4:]}"
    )


def test_rotating_without_a_webhook_is_a_404(market: Container) -> None:
    seller = make_user(market)
    r = api_client(market).post(
        "/api/v1/webhook/secret", headers=bearer(make_token(market, seller))
    )
    assert r.status_code == 404 and "no webhook" in r.json()["error"]
    assert webhooks.get_webhook(market, user_id=seller.id) is None
