"""Event streams cannot stall the exchange: a client holds a few at a time (per account when
authenticated, per address when anonymous; 429 with ``Retry-After`` beyond), a stream gives
its slot back when its client goes, and a stream asked to poll faster than the exchange's
minimum interval polls at that minimum. Over real HTTP (uvicorn), as browsers and scripts
hold them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from nmrx.market import instruments
from nmrx.platform.bootstrap import Container, bootstrap
from nmrx.settlement import service as settlement
from nmrx.wallet import ledger
from tests.conftest import make_settings
from tests.support.books import instrument_id, make_seller, seed_calendar
from tests.support.builders import PASSWORD, bearer, make_token, make_user
from tests.support.live_server import LiveServer


@pytest.fixture
def limited(database_url: str, tmp_path: Path) -> Iterator[Container]:
    c = bootstrap(make_settings(database_url, tmp_path, rate_limit_streams_per_client=2))
    yield c
    assert ledger.check(c.db) == []
    c.close()


@pytest.fixture
def server(limited: Container) -> Iterator[str]:
    with LiveServer(limited) as live:
        yield live.url


@contextmanager
def opened(http: httpx.Client, path: str, **kw: object) -> Iterator[httpx.Response]:
    """A stream held open (its first bytes read), closed on leaving the block."""
    with http.stream("GET", path, **kw) as r:  # type: ignore[arg-type]
        assert r.status_code == 200, r.read()
        chunks = r.iter_text()  # kept: dropping a half-read iterator closes the connection
        assert next(chunks).startswith((":", "event: "))
        yield r


def refused(http: httpx.Client, path: str, **kw: object) -> httpx.Response:
    r = http.get(path, **kw)  # type: ignore[arg-type]
    assert r.status_code == 429, r.text
    assert "too many open event streams" in r.json()["error"]
    assert int(r.headers["retry-after"]) >= 1
    return r


def test_an_account_holds_a_few_fill_streams_and_a_closed_one_gives_its_slot_back(
    limited: Container, server: str
) -> None:
    me, other = make_user(limited), make_user(limited)
    mine, theirs = bearer(make_token(limited, me)), bearer(make_token(limited, other))
    with httpx.Client(base_url=server, timeout=10) as http, ExitStack() as streams:
        streams.enter_context(opened(http, "/api/v1/fills/stream", headers=mine))
        second = streams.enter_context(opened(http, "/api/v1/fills/stream", headers=mine))
        refused(http, "/api/v1/fills/stream", headers=mine)
        # Another account on the same address is not affected.
        with opened(http, "/api/v1/fills/stream", headers=theirs):
            pass
        second.close()  # the client goes away
        deadline = time.monotonic() + 5
        while True:
            r = http.get("/api/v1/fills/stream", params={"max_events": 0}, headers=mine)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert r.status_code == 200, r.text


def test_anonymous_market_streams_are_capped_per_address_and_a_session_counts_its_account(
    limited: Container, server: str
) -> None:
    seller = make_seller(limited)
    make_user(limited, username="watcher")
    seed_calendar(limited)
    instruments.open_books(limited)
    path = f"/api/v1/instruments/{instrument_id(limited, seller.model_id)}/stream"
    with httpx.Client(base_url=server, timeout=10) as anonymous, ExitStack() as streams:
        streams.enter_context(opened(anonymous, path))
        streams.enter_context(opened(anonymous, path))
        refused(anonymous, path)
        # A logged-in browser on the same address counts against its account instead.
        with httpx.Client(base_url=server, timeout=10) as browser:
            page = browser.get("/login").text
            csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            browser.post(
                "/login", data={"username": "watcher", "password": PASSWORD, "csrf_token": csrf}
            )
            with opened(browser, path), opened(browser, path):
                refused(browser, path)


def test_a_stream_asked_to_poll_faster_than_the_minimum_polls_at_the_minimum(
    limited: Container, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert limited.settings.rate_limit_stream_min_poll_seconds == 0.5
    polls: list[float] = []
    real = settlement.fill_changes

    def counted(*args: object, **kwargs: object) -> object:
        polls.append(time.monotonic())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(settlement, "fill_changes", counted)
    mine = bearer(make_token(limited, make_user(limited)))
    with (
        httpx.Client(base_url=server, timeout=10) as http,
        opened(http, "/api/v1/fills/stream", params={"poll": 0.05}, headers=mine),
    ):
        time.sleep(1.6)
    # At 0.05 s this would be some 30 reads of the history; at 0.5 s, 4.
    assert 2 <= len(polls) <= 5, len(polls)
    gaps = [b - a for a, b in zip(polls, polls[1:], strict=False)]
    assert min(gaps) >= 0.45, gaps
