"""Injected faults give errors — never a crash of the emulator, never a wrong answer."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import requests
from emu_helpers import classic_api
from numerapi import utils as numerapi_utils

from numerai_emulator import UNAVAILABLE

QUERY = {"query": "{ rounds(tournament: 8, number: 0) { number } }"}


@pytest.fixture
def no_retry_sleep(monkeypatch):
    """numerapi sleeps 5 s, then 10 s between its retries of a 5xx; skip the waiting."""
    monkeypatch.setattr(numerapi_utils, "time", SimpleNamespace(sleep=lambda _s: None))


def test_outage_answers_503_until_the_window_ends(emu, no_retry_sleep):
    world = emu.world
    api = classic_api(emu.token("alice"))
    world.faults.outage(minutes=30)
    reply = requests.post(emu.url, json=QUERY, timeout=5)
    assert reply.status_code == 503
    assert reply.json()["errors"][0]["message"] == UNAVAILABLE
    assert api.raw_query(QUERY["query"]) == {}  # numerapi's result after 3 tries
    with pytest.raises(KeyError):
        api.get_current_round()
    world.advance(minutes=31)
    assert api.get_current_round() == world.current_round().number


def test_dropped_connections_are_connection_errors(emu):
    emu.world.faults.outage(minutes=5, mode="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(emu.url, json=QUERY, timeout=5)
    assert classic_api(emu.token("alice")).raw_query(QUERY["query"]) == {}
    emu.world.faults.clear()
    assert requests.post(emu.url, json=QUERY, timeout=5).status_code == 200


def test_error_mode_is_a_graphql_error_numerapi_raises(emu):
    emu.world.faults.configure(fail_next=1, fail_mode="error")
    with pytest.raises(ValueError, match=UNAVAILABLE):
        classic_api(emu.token("alice")).get_current_round()
    assert classic_api(emu.token("alice")).get_current_round() > 0


def test_numerapi_recovers_from_a_transient_503(emu, no_retry_sleep):
    emu.world.faults.configure(fail_next=2, fail_mode="503")
    assert classic_api(emu.token("alice")).get_current_round() == emu.world.current_round().number
    assert emu.world.faults.fail_next == 0


def test_error_rate_fails_about_that_share_of_calls(emu):
    emu.world.faults.configure(error_rate=0.5, error_mode="error")
    statuses = [requests.post(emu.url, json=QUERY, timeout=5).json() for _ in range(40)]
    failed = sum("errors" in s for s in statuses)
    assert 8 <= failed <= 32
    assert all(s["data"]["rounds"][0]["number"] > 0 for s in statuses if "errors" not in s)


def test_latency_delays_answers(emu):
    emu.world.faults.configure(latency_ms=300)
    started = time.monotonic()
    assert requests.post(emu.url, json=QUERY, timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_uploads_and_admin_are_not_affected_by_graphql_faults(emu):
    emu.world.faults.outage(minutes=5)
    reply = requests.get(
        f"{emu.url}/admin/clock", headers={"X-Admin-Token": emu.admin_token}, timeout=5
    )
    assert reply.status_code == 200
