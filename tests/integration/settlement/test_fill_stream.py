"""Live fill states: the server-sent events of a user's fills (as buyer or seller), over
the API (bearer token, read scope) and the browser session, advanced by the real
delivery and settlement services. Another user's fills never appear."""

from __future__ import annotations

import json
import re
import threading
import time

from fastapi.testclient import TestClient

from nmrx.platform.bootstrap import Container
from numerai_emulator import EmulatorServer
from tests.support.builders import PASSWORD, api_client, bearer, make_token
from tests.support.trading import Scenario

STAKE_STATES = ["delivered", "awaiting_scores", "released"]


def events_of(client: TestClient, path: str, **kw: object) -> list[tuple[str, int, dict]]:
    """(event type, id, data) of every event of a stream that ends (``max_events``)."""
    with client.stream("GET", path, **kw) as r:  # type: ignore[arg-type]
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    found = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if not line.startswith(":"))
        if fields:
            found.append((fields["event"], int(fields["id"]), json.loads(fields["data"])))
    return found


def two_stake_sales(market: Container, emulator: EmulatorServer) -> tuple[Scenario, int, int]:
    """One seller, two buyers; the stranger's fill is made first, so at every step its
    change is recorded before the buyer's (a leak would show first)."""
    sc = Scenario.start(market, emulator)
    sc.next_round()
    stranger_fill = sc.sell_stake(sc.buyer())
    my_fill = sc.sell_stake(sc.buyer())
    return sc, stranger_fill, my_fill


def login(client: TestClient, username: str) -> None:
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 200


def test_the_buyer_hears_each_state_of_their_fill_as_it_settles(
    market: Container, emulator: EmulatorServer
) -> None:
    sc, stranger_fill, my_fill = two_stake_sales(market, emulator)
    me = sc.buyers[1]
    client = api_client(market)
    auth = bearer(make_token(market, me.user, scopes="read"))
    heard: list[list[tuple[str, int, dict]]] = []

    def listen() -> None:
        heard.append(
            events_of(
                client,
                "/api/v1/fills/stream",
                params={"max_events": 3, "poll": 0.05},
                headers=auth,
            )
        )

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(0.3)  # the stream is open before anything moves
    sc.upload(own=True)  # delivered to both slots
    sc.close_and_score()  # round closes (awaiting scores), scores match (released)
    listener.join(timeout=30)
    assert not listener.is_alive()

    events = heard[0]
    assert [e for e, _, _ in events] == ["fill", "fill", "fill"]
    assert [(d["fill_id"], d["role"], d["state"]) for _, _, d in events] == [
        (my_fill, "buyer", s) for s in STAKE_STATES
    ]
    assert [d["from_state"] for _, _, d in events] == ["pending_delivery", *STAKE_STATES[:2]]
    assert [i for _, i, _ in events] == [d["event_id"] for _, _, d in events]
    assert events[-1][2]["reason"] == "scores_match" and events[-1][2]["detail"]

    # The stranger's own stream (from the start) holds only the stranger's fill.
    stranger = bearer(make_token(market, sc.buyers[0].user, scopes="read"))
    theirs = events_of(
        client, "/api/v1/fills/stream", params={"after": 0, "max_events": 3}, headers=stranger
    )
    assert {d["fill_id"] for _, _, d in theirs} == {stranger_fill}

    # The seller is party to both fills and hears all six changes, as the seller.
    seller = bearer(make_token(market, sc.seller.user, scopes="read"))
    sold = events_of(
        client, "/api/v1/fills/stream", params={"after": 0, "max_events": 6}, headers=seller
    )
    assert {(d["fill_id"], d["role"]) for _, _, d in sold} == {
        (stranger_fill, "seller"),
        (my_fill, "seller"),
    }
    assert [d["state"] for _, _, d in sold if d["fill_id"] == my_fill] == STAKE_STATES

    # A reconnecting browser sends the last id it saw and gets only what came after.
    resumed = events_of(
        client,
        "/api/v1/fills/stream",
        params={"after": 0, "max_events": 2},
        headers={**auth, "Last-Event-ID": str(events[0][1])},
    )
    assert [d["state"] for _, _, d in resumed] == STAKE_STATES[1:]


def test_the_browser_session_streams_only_its_own_fills_and_the_pages_carry_the_ids(
    market: Container, emulator: EmulatorServer
) -> None:
    sc, stranger_fill, my_fill = two_stake_sales(market, emulator)
    client = api_client(market)
    login(client, sc.buyers[1].user.username)
    portfolio = client.get("/portfolio").text
    assert f'id="fill-{my_fill}-state"' in portfolio and 'src="/static/fills.js"' in portfolio
    assert 'data-stream="/fills/stream?after=0"' in portfolio
    assert f"fill-{stranger_fill}-state" not in portfolio
    assert f'id="fill-{my_fill}-timeline"' in client.get(f"/fills/{my_fill}").text

    sc.upload(own=True)
    events = events_of(client, "/fills/stream", params={"after": 0, "max_events": 1})
    assert [(d["fill_id"], d["state"]) for _, _, d in events] == [(my_fill, "delivered")]
    # The page rendered now streams from after that change.
    assert f'data-stream="/fills/stream?after={events[0][1]}"' in client.get("/portfolio").text
    assert client.get("/static/fills.js").status_code == 200


def test_the_fill_stream_refuses_anonymous_and_tokens_without_read(
    market: Container, emulator: EmulatorServer
) -> None:
    sc, _, _ = two_stake_sales(market, emulator)
    client = api_client(market)
    anonymous = client.get("/api/v1/fills/stream", params={"max_events": 1})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    trade_only = bearer(make_token(market, sc.buyers[0].user, scopes="trade"))
    refused = client.get("/api/v1/fills/stream", params={"max_events": 1}, headers=trade_only)
    assert refused.status_code == 403
    assert client.get("/fills/stream", params={"max_events": 1}).status_code == 401
    bad_poll = bearer(make_token(market, sc.buyers[0].user, scopes="read"))
    assert (
        client.get("/api/v1/fills/stream", params={"poll": 0}, headers=bad_poll).status_code == 422
    )
