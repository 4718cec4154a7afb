"""Seller webhooks received by a real HTTP server on loopback, signatures verified, retries logged."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select

from nmrx.delivery import service as delivery
from nmrx.delivery import webhooks
from nmrx.delivery.tables import WebhookCall
from nmrx.delivery.webhook_sender import SIGNATURE_HEADER, verify
from nmrx.platform.bootstrap import Container
from nmrx.platform.clock import FixedClock
from numerai_emulator import EmulatorServer
from tests.support.market import instrument, trader


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_next = 0
        self.hits = 0  # every POST, failed or not
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.hits += 1
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def make_sale(market: Container, emulator: EmulatorServer):  # type: ignore[no-untyped-def]
    emulator.world.advance_to_next_open()
    round_number = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=20)
    buyer = trader(market, emulator)
    market_id = instrument(market, model_id=seller.model(), round_number=round_number, mode="file")
    seller.place(market_id, "ask", 2, "0.4")
    buyer.place(market_id, "bid", 1, "0.4")
    return seller, buyer, round_number


def header(headers: dict[str, str], name: str) -> str:
    """HTTP header names are case-insensitive: look one up as a receiver would."""
    matches = [v for k, v in headers.items() if k.lower() == name.lower()]
    assert len(matches) == 1, (name, headers)
    return matches[0]


def test_a_new_sale_and_an_open_round_reach_the_seller_signed(
    market: Container, emulator: EmulatorServer, receiver: Receiver
) -> None:
    started = int(time.time())
    emulator.world.advance_to_next_open()
    seller = trader(market, emulator, collateral_nmr=20)
    hook = webhooks.set_webhook(market, user_id=seller.id, url=receiver.url)
    assert hook.secret.startswith("whsec_")
    buyer = trader(market, emulator)
    round_number = emulator.world.current_round().number
    market_id = instrument(market, model_id=seller.model(), round_number=round_number, mode="file")
    seller.place(market_id, "ask", 2, "0.4")
    buyer.place(market_id, "bid", 1, "0.4")
    delivery.run_once(market)
    webhooks.send_due(market)
    finished = int(time.time())
    events = {json.loads(body)["event"]: (headers, body) for headers, body in receiver.received}
    assert set(events) == {"sale.created", "round.opened"}
    # Independently of nmrx's own sign()/verify(): the documented scheme, recomputed here from
    # the seller's secret and the raw bytes the loopback server read off the socket.
    # ``X-NMRX-Signature: t=<unix seconds>,v1=<hex>``, v1 = HMAC_SHA256(secret, f"{t}.{body}").
    for event, (headers, body) in events.items():
        assert header(headers, "X-NMRX-Event") == event
        match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", header(headers, "X-NMRX-Signature"))
        assert match, header(headers, "X-NMRX-Signature")
        t, v1 = int(match[1]), match[2]
        assert started <= t <= finished  # unix seconds, stamped when it was sent
        expected = hmac.new(
            hook.secret.encode("utf-8"), str(t).encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        assert hmac.compare_digest(expected, v1), (event, t)
        wrong = hmac.new(b"whsec_wrong", str(t).encode() + b"." + body, hashlib.sha256)
        assert not hmac.compare_digest(wrong.hexdigest(), v1)
        stale = hmac.new(hook.secret.encode(), str(t - 1).encode() + b"." + body, hashlib.sha256)
        assert not hmac.compare_digest(stale.hexdigest(), v1)  # t is part of what is signed
    headers, body = events["sale.created"]
    assert verify(hook.secret, body, headers[SIGNATURE_HEADER])
    assert not verify("whsec_wrong", body, headers[SIGNATURE_HEADER])
    assert json.loads(body)["round"] == round_number and json.loads(body)["quantity"] == 1
    # running again sends nothing twice
    delivery.run_once(market)
    webhooks.send_due(market)
    assert len(receiver.received) == 2


def test_a_failing_receiver_is_retried_and_every_attempt_logged(
    market: Container, emulator: EmulatorServer, receiver: Receiver
) -> None:
    emulator.world.advance_to_next_open()
    seller = trader(market, emulator, collateral_nmr=20)
    webhooks.set_webhook(market, user_id=seller.id, url=receiver.url)
    receiver.fail_next = 2
    buyer = trader(market, emulator)
    round_number = emulator.world.current_round().number
    market_id = instrument(market, model_id=seller.model(), round_number=round_number, mode="file")
    seller.place(market_id, "ask", 2, "0.4")
    buyer.place(market_id, "bid", 1, "0.4")
    delivery.sync(market)
    with market.db.transaction() as s:
        call_id = s.scalars(select(WebhookCall.id).where(WebhookCall.event == "sale.created")).one()
    first = webhooks.send(market, call_id=call_id)
    assert (first.state, first.attempts, first.last_status) == ("pending", 1, 500)
    second = webhooks.send(market, call_id=call_id)
    assert (second.state, second.attempts, second.last_error) == ("pending", 2, "HTTP 500")
    third = webhooks.send(market, call_id=call_id)
    assert (third.state, third.attempts, third.last_status) == ("delivered", 3, 204)
    assert [c.event for c in webhooks.calls(market, user_id=seller.id)] == ["sale.created"]
    with market.db.transaction() as s:
        call = s.get(WebhookCall, call_id)
        assert call.next_attempt_at is not None


def test_send_due_waits_for_the_backoff_before_each_retry(
    market: Container, emulator: EmulatorServer, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    seller = trader(market, emulator, collateral_nmr=20)
    # The service reads the time from the container's clock: drive it by hand.
    clock = FixedClock(market.clock.now())
    monkeypatch.setattr(market, "clock", clock)
    webhooks.set_webhook(market, user_id=seller.id, url=receiver.url)
    with market.db.transaction() as s:
        webhooks.emit(
            s, seller_user_id=seller.id, event="test", dedupe_key="b1", payload={}, now=clock.now()
        )
        call_id = s.scalars(select(WebhookCall.id)).one()
    receiver.fail_next = 3

    def next_attempt_at() -> datetime:
        with market.db.transaction() as s:
            return s.get(WebhookCall, call_id).next_attempt_at

    delays: list[timedelta] = []
    for attempt in (1, 2, 3):
        attempted_at = clock.value
        assert webhooks.send_due(market) == 1
        assert receiver.hits == attempt
        due = next_attempt_at()
        delays.append(due - attempted_at)
        assert delays[-1] > timedelta(0)
        # just before the backoff has elapsed: nothing is resent
        clock.value = due - timedelta(seconds=1)
        assert webhooks.send_due(market) == 0
        assert receiver.hits == attempt
        clock.value = due  # and once the clock reaches it, it is
    assert delays == list(webhooks.BACKOFF[:3])
    assert delays[0] < delays[1] < delays[2]
    assert webhooks.send_due(market) == 1  # the fourth attempt succeeds
    assert receiver.hits == 4 and len(receiver.received) == 1
    clock.value += timedelta(days=1)
    assert webhooks.send_due(market) == 0  # delivered: never sent again
    assert receiver.hits == 4


def test_an_unreachable_receiver_gives_up_after_the_last_attempt(
    market: Container, emulator: EmulatorServer
) -> None:
    seller = trader(market, emulator, collateral_nmr=20)
    webhooks.set_webhook(market, user_id=seller.id, url="http://127.0.0.1:9/hook")
    with market.db.transaction() as s:
        webhooks.emit(
            s,
            seller_user_id=seller.id,
            event="test",
            dedupe_key="t1",
            payload={},
            now=market.clock.now(),
        )
        call_id = s.scalars(select(WebhookCall.id)).one()
    for _ in range(webhooks.MAX_ATTEMPTS):
        info = webhooks.send(market, call_id=call_id)
    assert info.state == "failed" and info.attempts == webhooks.MAX_ATTEMPTS
    assert "ConnectError" in (info.last_error or "")


def test_webhook_urls_must_be_http(market: Container, emulator: EmulatorServer) -> None:
    from nmrx.platform.errors import InvalidInput

    seller = trader(market, emulator)
    with pytest.raises(InvalidInput, match="https://"):
        webhooks.set_webhook(market, user_id=seller.id, url="ftp://example")
