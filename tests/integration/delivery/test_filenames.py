"""Names that reach the disk, numerapi or a download header: an upload's file name and a model's
name are made safe before anything is stored or sent (issue 14, finding 15)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from nmrx.delivery import service as delivery
from nmrx.delivery.tables import PredictionUpload
from nmrx.platform.bootstrap import Container
from nmrx.sellers.tables import NumeraiModel
from numerai_emulator import EmulatorServer
from tests.support.builders import api_client, bearer, browser_login, make_token
from tests.support.market import fills_of, instrument, predictions, trader


@pytest.fixture
def round_number(emulator: EmulatorServer) -> int:
    emulator.world.advance_to_next_open()
    return emulator.world.current_round().number


@pytest.mark.parametrize("name", [".", "..", "../..", "../../etc/passwd", "a\\..\\..", "\r\n.."])
def test_an_upload_named_dot_or_a_path_is_stored_and_submitted_under_a_safe_name(
    market: Container, emulator: EmulatorServer, round_number: int, name: str
) -> None:
    seller = trader(market, emulator, collateral_nmr=20)
    content = predictions(emulator, round_number, seed=3)
    r = api_client(market).post(
        f"/api/v1/models/{seller.model()}/uploads",
        files={"file": (name, content, "text/csv")},
        data={"submit_to_own_model": "true"},
        headers=bearer(make_token(market, seller.user)),
    )
    assert r.status_code == 201, r.text
    stored = r.json()["filename"]
    assert stored not in {"", ".", ".."} and "/" not in stored and "\\" not in stored
    assert not stored.startswith(".") and stored.isascii() and stored.isprintable()
    assert r.json()["own_submission_id"], r.json()["own_submission_error"]
    with market.db.transaction() as s:
        rows = s.scalars(select(PredictionUpload)).all()
    assert [(u.filename, u.current) for u in rows] == [(stored, True)]
    own = emulator.world.selected_submission(
        seller.numerai.model_id(seller.numerai.classic[0]), round_number
    )
    assert own is not None and own.content == content


@pytest.mark.parametrize(
    "model_name", ["evil\r\nSet-Cookie: stolen=1", 'q"uote\\back', "模型/../x", "modèle"]
)
def test_a_download_names_its_file_safely_whatever_the_model_is_called(
    market: Container, emulator: EmulatorServer, round_number: int, model_name: str
) -> None:
    seller = trader(market, emulator, collateral_nmr=20)
    buyer = trader(market, emulator)
    file_market = instrument(
        market, model_id=seller.model(), round_number=round_number, mode="file"
    )
    seller.place(file_market, "ask", 1, "0.5")
    buyer.place(file_market, "bid", 1, "0.5")
    (fill,) = fills_of(market, file_market)
    with market.db.transaction() as s:
        s.get_one(NumeraiModel, seller.model()).name = model_name
    content = predictions(emulator, round_number, seed=4)
    client = api_client(market)
    up = client.post(
        f"/api/v1/models/{seller.model()}/uploads",
        files={"file": ("p.csv", content, "text/csv")},
        headers=bearer(make_token(market, seller.user)),
    )
    assert up.status_code == 201, up.text
    delivery.run_once(market)

    headers = bearer(make_token(market, buyer.user))
    link = client.post(f"/api/v1/fills/{fill.id}/download-link", headers=headers)
    assert link.status_code == 200, link.text
    name = link.json()["filename"]  # the SDK saves under this name
    assert name.endswith(f"_round{round_number}.csv") and "/" not in name and ".." not in name
    api = client.get(link.json()["url"].replace("http://testserver", ""), headers=headers)
    page = browser_login(market, buyer.user.username).get(f"/deliveries/{fill.id}/download")
    for got in (api, page):
        assert got.status_code == 200 and got.content == content
        assert "set-cookie" not in got.headers
        value = got.headers["content-disposition"]
        assert "\r" not in value and "\n" not in value
        assert value == f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
