"""Seller webhooks received by a real HTTP server on loopback, signatures verified, retries logged."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from nmrx.delivery import service as delivery
from nmrx.delivery import webhooks
from nmrx.delivery.tables import WebhookCall
from nmrx.delivery.webhook_sender import NOT_DELIVERED, REFUSED, SIGNATURE_HEADER, verify
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


@pytest.fixture(autouse=True)
def private_receivers_allowed(request: pytest.FixtureRequest) -> None:
    """These tests' receiver listens on loopback: allowed by the operator's explicit setting
    (off by default); the tests of the refusals turn it off again."""
    if "market" in request.fixturenames:
        market: Container = request.getfixturevalue("market")
        market.settings.webhook_allow_private = True


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
    # the seller learns that it failed, not what the target answered (no scanning oracle)
    assert (first.state, first.attempts, first.last_status) == ("pending", 1, None)
    assert first.last_error == NOT_DELIVERED
    second = webhooks.send(market, call_id=call_id)
    assert (second.state, second.attempts, second.last_error) == ("pending", 2, NOT_DELIVERED)
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
    assert info.last_error == NOT_DELIVERED  # not the connection error: no port-scan oracle


def test_webhook_urls_must_be_http(market: Container, emulator: EmulatorServer) -> None:
    from nmrx.platform.errors import InvalidInput

    seller = trader(market, emulator)
    with pytest.raises(InvalidInput, match="https://"):
        webhooks.set_webhook(market, user_id=seller.id, url="ftp://example")


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Resolve names through ``answers`` (other names are not found); returns the lookups."""
    from nmrx.delivery import webhook_sender

    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        if host in answers:
            return list(answers[host])
        try:  # an IP literal resolves to itself
            import ipaddress

            return [str(ipaddress.ip_address(host))]
        except ValueError:
            raise OSError("not found") from None

    monkeypatch.setattr(webhook_sender, "resolve", resolve)
    return asked


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.0.0.7/hook",
        "https://192.168.1.20:8443/hook",
        "https://172.16.5.4/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://169.254.10.10/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[fd12:3456::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:169.254.169.254]/hook",
        "https://sneaky.example/hook",  # one public and one private answer
    ],
)
def test_webhooks_to_non_public_addresses_are_refused_and_nothing_is_saved(
    market: Container, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    from nmrx.platform.errors import InvalidInput

    market.settings.webhook_allow_private = False
    fake_dns(
        monkeypatch,
        {
            "localhost": ["127.0.0.1", "::1"],
            "metadata.google.internal": ["169.254.169.254"],
            "sneaky.example": ["93.184.216.34", "10.0.0.1"],
        },
    )
    seller = trader(market, emulator)
    with pytest.raises(InvalidInput, match="must point to a public internet address"):
        webhooks.set_webhook(market, user_id=seller.id, url=url)
    assert webhooks.get_webhook(market, user_id=seller.id) is None


def test_even_with_private_targets_allowed_metadata_and_link_local_are_refused(
    market: Container, emulator: EmulatorServer
) -> None:
    from nmrx.platform.errors import InvalidInput

    seller = trader(market, emulator)
    for url in ("http://169.254.169.254/latest/", "http://[fe80::1]/", "http://0.0.0.0:8000/"):
        with pytest.raises(InvalidInput, match="public internet address"):
            webhooks.set_webhook(market, user_id=seller.id, url=url)


def test_https_is_required_outside_demo_mode(
    market: Container, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nmrx.platform.errors import InvalidInput

    market.settings.webhook_allow_private = False
    monkeypatch.setattr(market.settings, "demo", False)
    fake_dns(monkeypatch, {"hooks.example": ["93.184.216.34"]})
    seller = trader(market, emulator)
    with pytest.raises(InvalidInput, match=r"must start with https://$"):
        webhooks.set_webhook(market, user_id=seller.id, url="http://hooks.example/in")
    hook = webhooks.set_webhook(market, user_id=seller.id, url="https://hooks.example/in")
    assert hook.url == "https://hooks.example/in"


def test_a_host_that_resolves_elsewhere_when_sending_is_not_reached(
    market: Container, emulator: EmulatorServer, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DNS rebinding: public when saved, our loopback receiver when the worker sends.
    market.settings.webhook_allow_private = False
    port = receiver.server.server_port
    dns = {"rebind.example": ["93.184.216.34"]}
    fake_dns(monkeypatch, dns)
    seller = trader(market, emulator)
    webhooks.set_webhook(market, user_id=seller.id, url=f"http://rebind.example:{port}/hook")
    dns["rebind.example"] = ["127.0.0.1"]
    with market.db.transaction() as s:
        webhooks.emit(
            s,
            seller_user_id=seller.id,
            event="test",
            dedupe_key="r1",
            payload={},
            now=market.clock.now(),
        )
        call_id = s.scalars(select(WebhookCall.id)).one()
    info = webhooks.send(market, call_id=call_id)
    assert receiver.hits == 0
    assert (info.state, info.attempts, info.last_status, info.last_error) == (
        "pending",
        1,
        None,
        REFUSED,
    )


def test_the_request_goes_to_the_address_that_was_checked_with_the_host_kept(
    market: Container, emulator: EmulatorServer, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a name the system's resolver cannot find: only a connection to the checked address
    # (our lookup's answer, pinned) reaches the receiver, with the URL's host in Host
    port = receiver.server.server_port
    asked = fake_dns(monkeypatch, {"hooks.nmrx-test.invalid": ["127.0.0.1"]})
    seller = trader(market, emulator)
    url = f"http://hooks.nmrx-test.invalid:{port}/hook"
    webhooks.set_webhook(market, user_id=seller.id, url=url)
    with market.db.transaction() as s:
        webhooks.emit(
            s,
            seller_user_id=seller.id,
            event="test",
            dedupe_key="p1",
            payload={},
            now=market.clock.now(),
        )
        call_id = s.scalars(select(WebhookCall.id)).one()
    info = webhooks.send(market, call_id=call_id)
    assert (info.state, info.last_status) == ("delivered", 204)
    assert asked == ["hooks.nmrx-test.invalid"] * 2  # when saved, and again when sent
    headers, _ = receiver.received[0]
    assert header(headers, "Host") == f"hooks.nmrx-test.invalid:{port}"


def test_the_api_shows_the_seller_only_success_or_failure(
    market: Container, emulator: EmulatorServer, receiver: Receiver
) -> None:
    from tests.support.builders import api_client, bearer, make_token

    seller = trader(market, emulator, collateral_nmr=20)
    webhooks.set_webhook(market, user_id=seller.id, url=receiver.url)
    receiver.fail_next = 1
    with market.db.transaction() as s:
        webhooks.emit(
            s,
            seller_user_id=seller.id,
            event="test",
            dedupe_key="a1",
            payload={},
            now=market.clock.now(),
        )
        call_id = s.scalars(select(WebhookCall.id)).one()
    webhooks.send(market, call_id=call_id)
    from tests.support.builders import UserRef

    token = make_token(market, UserRef(seller.id, "seller"), scopes="read")
    calls = api_client(market).get("/api/v1/webhook/calls", headers=bearer(token)).json()
    assert [(c["last_status"], c["last_error"]) for c in calls] == [(None, NOT_DELIVERED)]
    assert "500" not in NOT_DELIVERED


def _tls_receiver(tmp_path: Path, name: str) -> tuple[HTTPServer, ssl.SSLContext, list[str]]:
    """An HTTPS receiver on loopback with a certificate for ``name`` only, and a client
    context that trusts that certificate; records the SNI name each client asked for."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    sni: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    server_context.sni_callback = lambda _sock, server_name, _ctx: sni.append(server_name)  # type: ignore[assignment,func-returns-value]
    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client_context = ssl.create_default_context(cafile=str(cert_file))
    return server, client_context, sni


@pytest.mark.parametrize(
    ("certified", "delivered"), [("hooks.example", True), ("other.example", False)]
)
def test_https_connects_to_the_checked_address_with_the_host_name_in_sni_and_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certified: str, delivered: bool
) -> None:
    from nmrx.delivery import webhook_sender

    server, trust, sni = _tls_receiver(tmp_path, certified)
    try:
        monkeypatch.setattr(webhook_sender, "TLS_VERIFY", trust)
        fake_dns(monkeypatch, {"hooks.example": ["127.0.0.1"]})
        url = f"https://hooks.example:{server.server_port}/in"
        attempt = webhook_sender.post(url, "whsec_x", "test", b"{}", allow_private=True)
        assert attempt.ok is delivered
        assert sni == ["hooks.example"]  # the URL's name, though we connected to 127.0.0.1
        if not delivered:  # a certificate for another name is refused, and not echoed
            assert attempt.error == NOT_DELIVERED
    finally:
        server.shutdown()
