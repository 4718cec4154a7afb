"""Numbers past a 64-bit integer are answered at the edge (404/422), never with a 500."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from functools import partial

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nmrx.app import create_app
from nmrx.market.rules import InvalidLadderText, parse_ladder
from nmrx.platform.bootstrap import Container
from nmrx.platform.bounds import _is_int, form_int
from tests.support.builders import bearer, browser_login, csrf_token, make_token, make_user

HUGE = 10**30


def routes(router: object, prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every route of the app, from its route table (included routers too)."""
    for route in getattr(router, "routes", []):
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            inner = getattr(route.include_context, "prefix", "")
            yield from routes(route.original_router, prefix + inner)


def client_of(container: Container) -> tuple[TestClient, dict[str, str]]:
    """A browser session (for the pages) that also sends a full-scope token (for the API)."""
    user = make_user(container)
    client = browser_login(container, user.username)
    # the same session, with server errors answered (500) rather than raised in the test
    quiet = TestClient(client.app, raise_server_exceptions=False, cookies=client.cookies)
    return quiet, bearer(make_token(container, user))


def _fill(match: re.Match[str], *, ints: set[str], value: int) -> str:
    return str(value) if match[1] in ints else "x"


@pytest.mark.parametrize("value", [HUGE, -HUGE, 2**63])
def test_every_route_answers_404_to_an_id_past_64_bits(container: Container, value: int) -> None:
    client, headers = client_of(container)
    checked = []
    for path, route in routes(create_app(container).router):
        ints = {p.alias for p in route.dependant.path_params if _is_int(p.field_info.annotation)}
        if not ints:
            continue
        url = re.sub(r"\{(\w+)(:\w+)?\}", partial(_fill, ints=ints, value=value), path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            r = client.request(method, url, headers=headers, follow_redirects=False)
            checked.append((method, path, r.status_code))
    assert len(checked) > 20
    assert [c for c in checked if c[2] != 404] == []


def test_integer_query_parameters_past_64_bits_answer_422(container: Container) -> None:
    client, headers = client_of(container)
    checked = []
    for path, route in routes(create_app(container).router):
        ints = [p.alias for p in route.dependant.query_params if _is_int(p.field_info.annotation)]
        if not ints or "GET" not in (route.methods or set()) or "{" in path:
            continue
        for name in ints:
            params = {name: str(HUGE)}
            if name != "max_events" and "max_events" in ints:
                params["max_events"] = "1"  # a stream: let it end
            checked.append((path, name, answer(client, path, params, headers)))
    assert checked
    assert [c for c in checked if c[2] != 422] == []


def answer(client: TestClient, path: str, params: dict[str, str], headers: dict[str, str]) -> int:
    """The status of a GET, or 0 when none came within 30 s (an endless stream)."""
    status: list[int] = []
    thread = threading.Thread(
        target=lambda: status.append(client.get(path, params=params, headers=headers).status_code),
        daemon=True,
    )
    thread.start()
    thread.join(timeout=30)
    return status[0] if status else 0


def test_a_json_id_past_64_bits_answers_422_and_places_nothing(container: Container) -> None:
    from nmrx.market.tables import MarketOrder as Order

    client, headers = client_of(container)
    r = client.post(
        "/api/v1/orders",
        json={"instrument_id": HUGE, "side": "bid", "quantity": 1, "price": "0.5"},
        headers=headers,
    )
    assert r.status_code == 422
    assert r.json()["error"] == "instrument_id: must be a whole number of at most 2147483647"
    with container.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 0


def test_web_forms_read_numbers_in_ascii_digits_only(container: Container) -> None:
    client, _ = client_of(container)
    token = csrf_token(client, "/wallet")
    for quantity in ("²", "١٢", str(HUGE)):
        r = client.post(
            "/models/1/order/preview",
            data={"instrument_id": "1", "quantity": quantity, "price": "0.5", "csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code < 500, (quantity, r.status_code)
    r = client.post(
        "/models/1/order/preview",
        data={"instrument_id": str(HUGE), "quantity": "1", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 422 and "instrument_id: must be a whole number" in r.text


def test_form_numbers_and_ladders_refuse_other_scripts_digits() -> None:
    assert form_int("12") == 12 and form_int(" 7 ") == 7
    for text in ("²", "١٢", "１２", "1_000", "-1", "+1", "", None, str(2**63)):
        assert form_int(text) is None, text
    assert parse_ladder("3 @ 0.5") == [(3, 50_000_000)]
    for text in ("² @ 0.5", "١٢ @ 0.5", "1_000 @ 0.5", f"{HUGE} @ 0.5"):
        with pytest.raises(InvalidLadderText):
            parse_ladder(text)
