"""The SDK against a real server on loopback, wired to the Numerai emulator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from nmrx.client import AuthError, Client, NotFound, Refused, predictions_csv
from nmrx.platform.bootstrap import Container
from nmrx.wallet.money import nmr
from numerai_emulator import EmulatorServer
from tests.integration.client.conftest import Party, party, predictions_frame
from tests.support.live_server import LiveServer


class LoseResponses(httpx.BaseTransport):
    """Forwards every request to the server, then drops the first ``lose`` responses to
    ``path`` on the floor — the server did the work, the client never heard back."""

    def __init__(self, path: str, lose: int = 1) -> None:
        self.inner = httpx.HTTPTransport()
        self.path, self.lose = path, lose
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path == self.path:
            self.sent.append(request)
            if self.lose > 0:
                self.lose -= 1
                response.read()
                response.close()
                raise httpx.ReadError("connection reset by peer", request=request)
        return response


def test_a_seller_uploads_a_dataframe_and_the_buyer_downloads_the_same_bytes(
    seller: Party,
    buyer: Party,
    file_book: int,
    emulator: EmulatorServer,
    round_number: int,
    tmp_path: Path,
) -> None:
    ask = seller.api.ask(file_book, 2, "0.5")
    assert ask.state == "open" and ask.price.units == nmr("0.5")
    bought = buyer.api.buy_now(file_book, 1)
    assert bought.filled == 1 and len(bought.fills) == 1
    fill_id = bought.fills[0].id
    downloads = tmp_path / "downloads"
    downloads.mkdir()

    frame = predictions_frame(emulator, round_number)
    upload = seller.api.upload_predictions(df=frame, model=seller.model_name)
    expected = predictions_csv(frame)
    assert upload.sha256 == hashlib.sha256(expected).hexdigest()
    assert (upload.round_number, upload.rows) == (round_number, len(frame))

    [delivery] = buyer.api.deliveries(round_number)
    assert delivery.fill_id == fill_id and delivery.downloadable
    got = buyer.api.download(fill_id, downloads)
    assert got.path.read_bytes() == expected
    assert got.sha256 == upload.sha256 and got.path.parent == downloads

    again = buyer.api.download_delivered(downloads, round_number=round_number)
    assert [(d.fill_id, d.skipped) for d in again] == [(fill_id, True)]
    assert [p.name for p in downloads.iterdir()] == [got.path.name]  # no partial files left


def test_an_order_whose_response_is_lost_is_retried_with_the_same_id_and_exists_once(
    server: LiveServer, buyer: Party, seller: Party, file_book: int
) -> None:
    lossy = LoseResponses("/api/v1/orders")
    api = Client(server.url, buyer.token, transport=lossy, backoff=0.01)

    order = api.bid(file_book, 2, "0.25")

    ids = [json.loads(r.content)["client_order_id"] for r in lossy.sent]
    assert len(ids) == 2 and ids[0] == ids[1]  # the retry carried the same client order id
    assert order.duplicate and order.client_order_id == ids[0]
    mine = buyer.api.orders()
    assert [o.id for o in mine] == [order.id]
    assert buyer.api.wallet().held.units == 2 * nmr("0.25")  # held once, not twice


def test_a_faucet_request_whose_response_is_lost_credits_once(
    server: LiveServer, buyer: Party
) -> None:
    before = buyer.api.wallet().available.units
    lossy = LoseResponses("/api/v1/wallet/faucet")
    api = Client(server.url, buyer.token, transport=lossy, backoff=0.01)

    after = api.faucet("7.5")

    keys = {r.headers["Idempotency-Key"] for r in lossy.sent}
    assert len(lossy.sent) == 2 and len(keys) == 1
    assert after.available.units == before + nmr("7.5")
    assert buyer.api.wallet().available.units == before + nmr("7.5")


def test_a_lost_response_on_a_request_without_idempotency_is_not_retried(
    server: LiveServer,
) -> None:
    lossy = LoseResponses("/api/v1/auth/register")
    api = Client(server.url, backoff=0.01, transport=lossy)
    with pytest.raises(Exception, match="may or may not have been applied"):
        api.register("once_only", "correct-horse-battery")
    assert len(lossy.sent) == 1


def test_errors_carry_the_servers_reason_and_status(
    server: LiveServer,
    market: Container,
    emulator: EmulatorServer,
    buyer: Party,
    file_book: int,
    round_number: int,
) -> None:
    no_collateral = party(server, market, emulator)
    from tests.support.market import instrument

    own_book = instrument(
        market, model_id=no_collateral.trader.model(), round_number=round_number, mode="file"
    )
    with pytest.raises(Refused) as refused:
        no_collateral.api.ask(own_book, 1, "0.5")
    assert refused.value.status is not None and 400 <= refused.value.status < 500
    assert "collateral" in refused.value.message

    with pytest.raises(Refused) as not_owner:
        buyer.api.ask(file_book, 1, "0.5")
    assert "own" in not_owner.value.message

    with pytest.raises(NotFound) as missing:
        buyer.api.book(999_999)
    assert missing.value.status == 404 and missing.value.message

    with pytest.raises(AuthError) as auth:
        Client(server.url, "nmrx_not-a-token").wallet()
    assert auth.value.status == 401 and auth.value.message

    frame = predictions_frame(emulator, round_number).iloc[:-3]
    with pytest.raises(Refused) as bad_file:
        no_collateral.api.upload_predictions(df=frame, model=no_collateral.model_name)
    assert bad_file.value.status == 422 and "3 of the round's" in bad_file.value.message


def test_a_buyer_follows_deliveries_and_reads_the_fill_timeline(
    seller: Party, buyer: Party, file_book: int, emulator: EmulatorServer, round_number: int
) -> None:
    seller.api.set_ladder(seller.model_name, [(1, "0.4"), (2, "0.6")], apply_to_open=True)
    book = buyer.api.book(file_book)
    assert [(str(lv.price), lv.quantity) for lv in book.asks][:2] == [("0.4", 1), ("0.6", 2)]
    order = buyer.api.bid(file_book, 3, "0.6", order_type="ioc")  # walks up the ladder
    assert order.filled == 3 and len(order.fills) == 2 and len(buyer.api.trades(file_book)) == 2

    seller.api.upload_predictions(
        df=predictions_frame(emulator, round_number), model=seller.model_name
    )
    delivered = list(buyer.api.follow_deliveries(round_number, interval=0.01, timeout=0))
    assert {d.fill_id for d in delivered} == {f.id for f in order.fills}

    [market] = [
        m for m in buyer.api.markets() if m.model_name == seller.model_name and m.mode == "file"
    ]
    assert any(i.id == file_book and i.last_price is not None for i in market.instruments)
    fills = buyer.api.fills("buyer")
    assert {f.id for f in fills} == {f.id for f in order.fills}
    timeline = buyer.api.timeline(fills[0].id)
    assert timeline.steps and timeline.fill_id == fills[0].id
