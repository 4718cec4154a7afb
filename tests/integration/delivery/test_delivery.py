"""A full round against the emulator: uploads, downloads, automatic submissions, failures."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nmrx.delivery import service as delivery
from nmrx.delivery.tables import Delivery, DownloadLog, PredictionUpload
from nmrx.platform.bootstrap import Container
from nmrx.sellers import numerai_keys
from numerai_emulator import EmulatorServer
from tests.support.builders import api_client, bearer, browser_login, make_token
from tests.support.emulator import key_with_scopes
from tests.support.market import Trader, fills_of, instrument, predictions, trader


@pytest.fixture
def client(market: Container) -> TestClient:
    return api_client(market)


@pytest.fixture
def round_number(emulator: EmulatorServer) -> int:
    emulator.world.advance_to_next_open()
    return emulator.world.current_round().number


def upload(
    client: TestClient, seller: Trader, content: bytes, name: str = "preds.csv", **form: str
):  # type: ignore[no-untyped-def]
    """Upload through the API, then let the worker's tick run once (as `nmrx worker` would)."""
    token = make_token(seller.market, seller.user)
    response = client.post(
        f"/api/v1/models/{seller.model()}/uploads",
        files={"file": (name, content, "text/csv")},
        data=form,
        headers=bearer(token),
    )
    delivery.run_once(seller.market)
    return response


def download(client: TestClient, buyer: Trader, fill_id: int) -> bytes:
    headers = bearer(make_token(buyer.market, buyer.user))
    link = client.post(f"/api/v1/fills/{fill_id}/download-link", headers=headers)
    assert link.status_code == 200, link.text
    got = client.get(link.json()["url"].replace("http://testserver", ""), headers=headers)
    assert got.status_code == 200, got.text
    return got.content


def deliveries(market: Container, fill_id: int) -> dict[str, Delivery]:
    with market.db.transaction() as s:
        return {d.kind: d for d in s.scalars(select(Delivery).where(Delivery.fill_id == fill_id))}


def setup_round(market: Container, emulator: EmulatorServer, round_number: int):  # type: ignore[no-untyped-def]
    seller = trader(market, emulator, collateral_nmr=30)
    file_buyer = trader(market, emulator)
    slot_buyer = trader(market, emulator)
    stake_buyer = trader(market, emulator)
    file_market = instrument(
        market, model_id=seller.model(), round_number=round_number, mode="file"
    )
    stake_market = instrument(
        market, model_id=seller.model(), round_number=round_number, mode="stake"
    )
    seller.place(file_market, "ask", 3, "0.5")
    seller.place(stake_market, "ask", 100, "0.05")
    file_buyer.place(file_market, "bid", 1, "0.5")
    slot_buyer.place(file_market, "bid", 1, "0.5", slot_model_id=slot_buyer.model(0))
    stake_buyer.place(stake_market, "bid", 10, "0.05", slot_model_id=stake_buyer.model(0))
    file_fills = fills_of(market, file_market)
    stake_fills = fills_of(market, stake_market)
    assert len(file_fills) == 2 and len(stake_fills) == 1
    return seller, file_buyer, slot_buyer, stake_buyer, file_fills, stake_fills[0]


def test_a_full_round_delivers_the_exact_bytes_and_submits_with_our_nonce(
    market: Container, client: TestClient, emulator: EmulatorServer, round_number: int
) -> None:
    seller, file_buyer, slot_buyer, stake_buyer, file_fills, stake_fill = setup_round(
        market, emulator, round_number
    )
    content = predictions(emulator, round_number, seed=1)
    r = upload(client, seller, content)
    assert r.status_code == 201, r.text
    assert r.json()["sha256"] == hashlib.sha256(content).hexdigest()
    assert r.json()["round_number"] == round_number

    assert download(client, file_buyer, file_fills[0].id) == content
    assert download(client, slot_buyer, file_fills[1].id) == content

    for fill, buyer in ((stake_fill, stake_buyer), (file_fills[1], slot_buyer)):
        sub = deliveries(market, fill.id)["submission"]
        assert sub.state == "delivered", sub.last_error
        slot_id = buyer.numerai.model_id(buyer.numerai.classic[0])
        selected = emulator.world.selected_submission(slot_id, round_number)
        assert selected is not None and sub.nonce and sub.nonce in selected.filename
        assert sub.numerai_submission_id == selected.id
        assert selected.content == content
    assert "submission" not in deliveries(market, file_fills[0].id)


def test_a_file_on_disk_is_not_the_plaintext(
    market: Container, client: TestClient, emulator: EmulatorServer, round_number: int
) -> None:
    seller = trader(market, emulator, collateral_nmr=20)
    content = predictions(emulator, round_number, seed=2)
    assert upload(client, seller, content).status_code == 201
    files = [p for p in (market.settings.data_dir / "files").rglob("*") if p.is_file()]
    assert len(files) == 1
    raw = files[0].read_bytes()
    assert content not in raw and content[:40] not in raw
    assert hashlib.sha256(raw).hexdigest() != hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda text: "\n".join(text.splitlines()[:-5]), "5 of the round's"),
        (lambda text: text.replace("prediction", "pred", 1), "wrong columns"),
        (lambda text: text + text.splitlines()[1] + "\n", "appear more than once"),
    ],
)
def test_each_refused_file_says_why_and_stores_nothing(
    market: Container,
    client: TestClient,
    emulator: EmulatorServer,
    round_number: int,
    mutate,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    seller = trader(market, emulator, collateral_nmr=20)
    bad = mutate(predictions(emulator, round_number, seed=3).decode()).encode()
    r = upload(client, seller, bad)
    assert r.status_code == 422 and message in r.json()["error"], r.text
    with market.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(PredictionUpload)) == 0
    assert not (market.settings.data_dir / "files").exists() or not any(
        (market.settings.data_dir / "files").rglob("*.*")
    )


def test_uploads_close_before_the_round_does_and_only_the_owner_uploads(
    market: Container, client: TestClient, emulator: EmulatorServer, round_number: int
) -> None:
    seller = trader(market, emulator, collateral_nmr=20)
    other = trader(market, emulator)
    content = predictions(emulator, round_number, seed=4)
    r = client.post(
        f"/api/v1/models/{seller.model()}/uploads",
        files={"file": ("p.csv", content)},
        headers=bearer(make_token(market, other.user)),
    )
    assert r.status_code == 404 and "not the verified owner" in r.json()["error"]
    close = emulator.world.current_round().close
    emulator.world.clock.set(close - timedelta(minutes=9))
    r = upload(client, seller, content)
    assert (
        r.status_code == 409
        and "uploads for round" in r.json()["error"]
        and "are closed" in r.json()["error"]
    )


def test_reupload_replaces_the_file_and_redelivers_it(
    market: Container, client: TestClient, emulator: EmulatorServer, round_number: int
) -> None:
    seller, file_buyer, _slot_buyer, stake_buyer, file_fills, stake_fill = setup_round(
        market, emulator, round_number
    )
    first, second = (
        predictions(emulator, round_number, seed=5),
        predictions(emulator, round_number, seed=6),
    )
    assert upload(client, seller, first).status_code == 201
    nonce_before = deliveries(market, stake_fill.id)["submission"].nonce
    assert upload(client, seller, second, name="v2.csv").status_code == 201
    assert download(client, file_buyer, file_fills[0].id) == second
    sub = deliveries(market, stake_fill.id)["submission"]
    assert sub.state == "delivered" and sub.nonce != nonce_before
    slot_id = stake_buyer.numerai.model_id(stake_buyer.numerai.classic[0])
    assert sub.nonce in emulator.world.selected_submission(slot_id, round_number).filename
    with market.db.transaction() as s:
        assert [
            u.current for u in s.scalars(select(PredictionUpload).order_by(PredictionUpload.id))
        ] == [False, True]


def test_a_buyer_key_without_upload_scope_is_the_buyers_fault(
    market: Container, client: TestClient, emulator: EmulatorServer, round_number: int
) -> None:
    seller, _f, _s, stake_buyer, _ff, stake_fill = setup_round(market, emulator, round_number)
    weak = key_with_scopes(emulator.world, stake_buyer.numerai.username, ["read_user_info"])
    numerai_keys.add_key(
        market, user_id=stake_buyer.id, public_id=weak.public_id, secret=weak.secret
    )
    assert upload(client, seller, predictions(emulator, round_number, seed=7)).status_code == 201
    sub = deliveries(market, stake_fill.id)["submission"]
    assert (sub.state, sub.fault) == ("failed", "buyer")
    assert "permission" in (sub.last_error or "")


def test_an_outage_is_retried_then_delivered(
    market: Container, client: TestClient, emulator: EmulatorServer, round_number: int
) -> None:
    seller, _f, _s, _stake_buyer, _ff, stake_fill = setup_round(market, emulator, round_number)
    content = predictions(emulator, round_number, seed=8)
    token = make_token(market, seller.user)
    r = client.post(
        f"/api/v1/models/{seller.model()}/uploads",
        files={"file": ("p.csv", content)},
        headers=bearer(token),
    )
    assert r.status_code == 201
    emulator.world.faults.outage(minutes=1)
    delivery.run_once(market)
    sub = deliveries(market, stake_fill.id)["submission"]
    assert sub.state == "waiting" and "unavailable" in (sub.last_error or "")
    assert sub.attempts == 1
    emulator.world.advance(minutes=2)
    delivery.run_once(market)
    sub = deliveries(market, stake_fill.id)["submission"]
    assert sub.state == "delivered" and sub.attempts == 2


def test_an_outage_past_the_deadline_is_nobodys_fault(
    market: Container, client: TestClient, emulator: EmulatorServer, round_number: int
) -> None:
    seller, _f, _s, _stake_buyer, _ff, stake_fill = setup_round(market, emulator, round_number)
    token = make_token(market, seller.user)
    content = predictions(emulator, round_number, seed=9)
    r = client.post(
        f"/api/v1/models/{seller.model()}/uploads",
        files={"file": ("p.csv", content)},
        headers=bearer(token),
    )
    assert r.status_code == 201
    emulator.world.faults.outage(minutes=24 * 60)
    delivery.run_once(market)
    assert deliveries(market, stake_fill.id)["submission"].state == "waiting"
    emulator.world.advance_to_next_close()
    emulator.world.advance(minutes=1)
    delivery.run_once(market)
    sub = deliveries(market, stake_fill.id)["submission"]
    assert (sub.state, sub.fault) == ("failed", "nobody")
    assert "before the round closed" in (sub.last_error or "")


def test_stake_files_never_leave_and_file_buyers_only_get_their_own(
    market: Container, client: TestClient, emulator: EmulatorServer, round_number: int
) -> None:
    seller, file_buyer, slot_buyer, stake_buyer, file_fills, stake_fill = setup_round(
        market, emulator, round_number
    )
    assert upload(client, seller, predictions(emulator, round_number, seed=10)).status_code == 201
    stake_headers = bearer(make_token(market, stake_buyer.user))
    r = client.post(f"/api/v1/fills/{stake_fill.id}/download-link", headers=stake_headers)
    assert r.status_code == 403 and "never downloadable" in r.json()["error"]
    # the seller, a stranger and the stake buyer get nothing for a file buyer's fill
    for outsider in (stake_buyer, seller):
        r = client.post(
            f"/api/v1/fills/{file_fills[0].id}/download-link",
            headers=bearer(make_token(market, outsider.user)),
        )
        assert r.status_code == 404
    # a link made for one buyer does not work for another
    link = client.post(
        f"/api/v1/fills/{file_fills[0].id}/download-link",
        headers=bearer(make_token(market, file_buyer.user)),
    ).json()
    path = link["url"].replace("http://testserver", "")
    assert client.get(path, headers=stake_headers).status_code == 403
    assert client.get(path, headers=bearer(make_token(market, slot_buyer.user))).status_code == 403
    assert client.get(path).status_code == 401
    assert client.get("/api/v1/downloads/forged-token", headers=stake_headers).status_code == 404
    # no delivery listing reveals a stake file's content
    listing = client.get("/api/v1/deliveries", headers=stake_headers).json()
    assert [d["kind"] for d in listing] == ["submission"]
    # nobody at all gets a link to the stake file: its seller, a stranger, the file buyer
    for outsider in (seller, file_buyer):
        r = client.post(
            f"/api/v1/fills/{stake_fill.id}/download-link",
            headers=bearer(make_token(market, outsider.user)),
        )
        assert r.status_code in (403, 404), r.text


def browser_as(market: Container, who: Trader) -> TestClient:
    return browser_login(market, who.user.username)


def test_the_browser_download_gives_the_buyer_the_file_and_refuses_everyone_else(
    market: Container, client: TestClient, emulator: EmulatorServer, round_number: int
) -> None:
    seller, file_buyer, slot_buyer, stake_buyer, file_fills, stake_fill = setup_round(
        market, emulator, round_number
    )
    content = predictions(emulator, round_number, seed=12)
    assert upload(client, seller, content).status_code == 201

    mine = browser_as(market, file_buyer).get(f"/deliveries/{file_fills[0].id}/download")
    assert mine.status_code == 200 and mine.content == content
    assert "attachment" in mine.headers["content-disposition"]
    for who in (stake_buyer, seller, file_buyer, slot_buyer):  # the Stake Mode file: nobody
        r = browser_as(market, who).get(f"/deliveries/{stake_fill.id}/download")
        assert r.status_code in (403, 404) and content not in r.content, who.user.username
    for who in (stake_buyer, seller, slot_buyer):  # another buyer's file
        r = browser_as(market, who).get(f"/deliveries/{file_fills[0].id}/download")
        assert r.status_code == 404 and content not in r.content, who.user.username
    anonymous = api_client(market).get(
        f"/deliveries/{file_fills[0].id}/download", follow_redirects=False
    )
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]

    # exactly one download happened, and it is logged: who, which upload, which bytes
    with market.db.transaction() as s:
        logged = s.scalars(select(DownloadLog)).all()
    assert [(d.user_id, d.sha256) for d in logged] == [
        (file_buyer.id, hashlib.sha256(content).hexdigest())
    ]


def test_expired_links_fail(
    market: Container, client: TestClient, emulator: EmulatorServer, round_number: int
) -> None:
    seller, file_buyer, _s, _st, file_fills, _sf = setup_round(market, emulator, round_number)
    assert upload(client, seller, predictions(emulator, round_number, seed=11)).status_code == 201
    market.settings.download_link_ttl_seconds = 1
    headers = bearer(make_token(market, file_buyer.user))
    link = client.post(f"/api/v1/fills/{file_fills[0].id}/download-link", headers=headers).json()
    emulator.world.advance(seconds=2.1)  # the platform's clock, not the wall's, ages a link
    r = client.get(link["url"].replace("http://testserver", ""), headers=headers)
    assert r.status_code == 403 and "expired" in r.json()["error"]


def test_the_seller_sees_each_rounds_buyers_and_where_their_deliveries_stand(
    market: Container, client: TestClient, emulator: EmulatorServer, round_number: int
) -> None:
    seller, file_buyer, slot_buyer, stake_buyer, file_fills, stake_fill = setup_round(
        market, emulator, round_number
    )
    model = seller.numerai.classic[0]
    before = delivery.rounds_for_seller(market, user_id=seller.id)
    assert [(r.model, r.round_number, r.buyers, r.fills) for r in before] == [
        (model, round_number, 3, 3)
    ]
    assert (before[0].delivered, before[0].failed) == (0, 0) and before[0].waiting >= 3
    assert delivery.rounds_for_seller(market, user_id=file_buyer.id) == []  # buyers sold nothing

    assert upload(client, seller, predictions(emulator, round_number, seed=13)).status_code == 201
    delivery.run_once(market)
    with market.db.transaction() as s:
        rows = s.scalars(
            select(Delivery).where(Delivery.fill_id.in_([f.id for f in [*file_fills, stake_fill]]))
        ).all()
    after = delivery.rounds_for_seller(market, user_id=seller.id)[0]
    assert (after.buyers, after.fills, after.waiting, after.failed) == (3, 3, 0, 0)
    assert after.delivered == len(rows) == 4  # two downloads, two submissions (slot, stake)

    page = browser_as(market, seller).get("/sell")
    table = page.text[page.text.index('id="sold-rounds"') :]
    assert f"<td>{model}</td><td>{round_number}</td><td>3</td><td>3</td>" in table


UPLOAD_ALONE = """
import json, sys
from pathlib import Path

from nmrx.delivery import uploads
from nmrx.platform.bootstrap import bootstrap
from nmrx.platform.config import Settings

settings, user_id, model_id, path = json.loads(sys.argv[1]), *map(int, sys.argv[2:4]), sys.argv[4]
container = bootstrap(Settings(**settings), migrate=False)
assert "nmrx.delivery.service" in sys.modules, "bootstrap wires delivery itself"
uploads.upload_predictions(
    container, user_id=user_id, model_id=model_id, content=Path(path).read_bytes(), filename="p.csv"
)
"""


def test_a_process_that_never_imports_delivery_still_delivers_on_upload(
    market: Container, emulator: EmulatorServer, round_number: int, tmp_path: Path
) -> None:
    """A fresh interpreter that imports only the upload service: bootstrap's handlers, not
    whatever modules the process happened to import, point the buyers at the new file."""
    import json
    import os
    import subprocess
    import sys

    seller, file_buyer, _slot, _stake, file_fills, _sf = setup_round(market, emulator, round_number)
    path = tmp_path / "p.csv"
    path.write_bytes(predictions(emulator, round_number, seed=31))
    settings = market.settings.model_dump(mode="json")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(
        [sys.executable, "-c", UPLOAD_ALONE, json.dumps(settings), str(seller.id)]
        + [str(seller.model()), str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got = deliveries(market, file_fills[0].id)["download"]
    assert got.state == "delivered" and got.upload_id is not None
