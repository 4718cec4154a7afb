"""Retries, idempotency keys and error mapping of the SDK, with a scripted transport."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from nmrx.client import (
    AuthError,
    Client,
    Conflict,
    ConnectionFailed,
    Forbidden,
    NotFound,
    Refused,
    ServerError,
    Unavailable,
)

Handler = Callable[[httpx.Request], httpx.Response]
ORDER = {
    "id": 7, "client_order_id": "x", "instrument_id": 1, "side": "bid", "order_type": "limit",
    "price": {"units": 5_000_000, "nmr": "0.05"}, "quantity": 2, "filled": 0, "remaining": 2,
    "state": "open", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    "fills": [],
}  # fmt: skip
WALLET = {
    k: {"units": 100, "nmr": "0.000001"} for k in ("available", "held", "collateral", "total")
}


class Script:
    """Answers each request with the next step: a response or an exception to raise."""

    def __init__(self, *steps: Handler | Exception | int) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, int):
            return httpx.Response(step, json={"error": f"status {step} says no"})
        return step(request)


def client(script: Script, **kw: object) -> tuple[Client, list[float]]:
    slept: list[float] = []
    api = Client(
        "http://nmrx.test", "tok", transport=httpx.MockTransport(script), sleep=slept.append, **kw
    )  # type: ignore[arg-type]
    return api, slept


def echo_order(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    return httpx.Response(201, json={**ORDER, "client_order_id": body["client_order_id"]})


def test_an_order_is_retried_on_503_with_the_same_client_order_id() -> None:
    script = Script(503, 502, echo_order)
    api, slept = client(script, backoff=0.1)
    order = api.bid(1, 2, "0.05")
    ids = {json.loads(r.content)["client_order_id"] for r in script.requests}
    assert len(script.requests) == 3 and ids == {order.client_order_id}
    assert len(slept) == 2 and slept[1] > slept[0] >= 0.1  # exponential backoff


def test_each_call_gets_a_new_client_order_id_unless_one_is_given() -> None:
    script = Script(echo_order)
    api, _ = client(script)
    a, b = api.bid(1, 1, "0.05"), api.bid(1, 1, "0.05")
    c = api.bid(1, 1, "0.05", client_order_id="mine-1")
    assert a.client_order_id != b.client_order_id and c.client_order_id == "mine-1"


def test_a_lost_response_to_an_order_is_retried_but_not_to_a_plain_post() -> None:
    lost = httpx.ReadError("reset")
    script = Script(lost, echo_order)
    api, _ = client(script)
    assert api.bid(1, 1, "0.05").id == 7
    register = Script(lost, lambda r: httpx.Response(201, json={}))
    api2, _ = client(register)
    with pytest.raises(ConnectionFailed, match="may or may not"):
        api2.register("alice", "pw-pw-pw-pw")
    assert len(register.requests) == 1


def test_money_moving_calls_carry_one_idempotency_key_across_retries() -> None:
    script = Script(httpx.ConnectError("refused"), 504, lambda r: httpx.Response(200, json=WALLET))
    api, _ = client(script)
    api.faucet("1")
    keys = [r.headers.get("Idempotency-Key") for r in script.requests]
    assert len(script.requests) == 3 and keys[1] == keys[2] and keys[1]
    api.faucet("1")
    assert script.requests[-1].headers["Idempotency-Key"] != keys[2]


def test_refusals_are_not_retried_and_carry_the_reason_and_status() -> None:
    for status, kind in [
        (401, AuthError), (403, Forbidden), (404, NotFound), (409, Conflict), (422, Refused),
        (500, ServerError),
    ]:  # fmt: skip
        script = Script(status)
        api, slept = client(script)
        with pytest.raises(kind) as caught:
            api.wallet()
        assert caught.value.status == status
        assert caught.value.message == f"status {status} says no"
        assert len(script.requests) == 1 and slept == []
    assert issubclass(Forbidden, Refused) and issubclass(Conflict, Refused)


def test_transient_failures_give_up_after_the_retries_with_the_last_reason() -> None:
    script = Script(503)
    api, slept = client(script, retries=2)
    with pytest.raises(Unavailable, match="status 503 says no"):
        api.wallet()
    assert len(script.requests) == 3 and len(slept) == 2
    down = Script(httpx.ConnectError("connection refused"))
    api, _ = client(down, retries=1)
    with pytest.raises(ConnectionFailed, match="cannot reach http://nmrx.test"):
        api.wallet()


def test_retry_after_is_honoured() -> None:
    script = Script(
        lambda r: httpx.Response(503, headers={"Retry-After": "2"}, json={"error": "busy"}),
        lambda r: httpx.Response(200, json=WALLET),
    )
    api, slept = client(script)
    api.wallet()
    assert slept == [2.0]


def test_a_non_json_error_still_says_what_happened() -> None:
    script = Script(lambda r: httpx.Response(418, text="short and stout"))
    api, _ = client(script)
    with pytest.raises(Refused, match="418 I'm a teapot: short and stout"):
        api.wallet()


def test_prices_and_amounts_are_never_floats() -> None:
    script = Script(
        lambda r: (
            echo_order(r) if r.url.path.endswith("/orders") else httpx.Response(200, json=WALLET)
        )
    )
    api, _ = client(script)
    with pytest.raises(TypeError, match="never a float"):
        api.bid(1, 1, 0.05)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exactly one"):
        api.bid(1, 1)
    assert script.requests == []  # refused before anything was sent
    api.bid(1, 1, price_units=5_000_000)
    api.faucet(Decimal("2.5"))
    sent = [json.loads(r.content) for r in script.requests]
    assert sent[0]["price_units"] == 5_000_000 and sent[1] == {"amount": "2.5"}


def test_the_token_is_required_before_anything_is_sent() -> None:
    script = Script(lambda r: httpx.Response(200, json=WALLET))
    api = Client("http://nmrx.test", None, transport=httpx.MockTransport(script))
    api.http.token = None
    with pytest.raises(AuthError, match="nmrx login"):
        api.wallet()
    assert script.requests == []
