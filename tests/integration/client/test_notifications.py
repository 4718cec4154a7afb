"""Notifications through the SDK and the CLI: a seller with a sale is told to upload.

Runs once the server has ``GET /api/v1/notifications`` (it was being built alongside)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nmrx.cli import app
from tests.integration.client.conftest import Party
from tests.support.live_server import LiveServer


def test_a_seller_with_a_sale_is_told_to_upload_before_the_deadline(
    server: LiveServer, seller: Party, buyer: Party, file_book: int, tmp_path: Path
) -> None:
    if "/api/v1/notifications" not in server.app.openapi()["paths"]:
        pytest.skip("this server has no GET /api/v1/notifications yet")
    seller.api.ask(file_book, 1, "0.5")
    buyer.api.buy_now(file_book, 1)

    notes = seller.api.notifications()
    [action] = [n for n in notes if n.kind == "action"]
    assert seller.model_name in action.title and action.deadline is not None
    assert any(n.kind == "sale" for n in notes)

    env = {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "NMRX_API_URL": server.url,
        "NMRX_API_TOKEN": seller.token,
    }
    result = CliRunner().invoke(app, ["notifications", "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    assert [n["title"] for n in json.loads(result.stdout)] == [n.title for n in notes]
