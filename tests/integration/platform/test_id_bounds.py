"""Numbers are bounded at the edge (issue 14, finding 11): an id of 10³⁰ on any route answers
404 or 422, never a 500 from the database driver; web forms take ASCII digits only."""

from __future__ import annotations

import asyncio
import re
import types
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

from nmrx.app import create_app
from nmrx.market.rules import InvalidLadderText, parse_ladder
from nmrx.platform.bootstrap import Container
from nmrx.platform.bounds import form_int
from tests.support.asgi import run_in_own_loop
from tests.support.builders import browser_login, csrf_token, make_token, make_user

HUGE = str(10**30)


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for r in routes:
        if isinstance(r, APIRoute):
            yield r
        elif hasattr(r, "original_router"):
            yield from _routes(r.original_router.routes)


def _is_int(annotation: object) -> bool:
    if annotation is int:
        return True
    if typing.get_origin(annotation) is typing.Annotated:
        return _is_int(typing.get_args(annotation)[0])
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(_is_int(a) for a in typing.get_args(annotation))
    return False


def _params(route: APIRoute, kind: str) -> list[str]:
    names = []
    stack = [route.dependant]
    while stack:
        d = stack.pop()
        stack.extend(d.dependencies)
        for p in getattr(d, f"{kind}_params"):
            if _is_int(p.field_info.annotation):
                names.append(p.alias)
    return names


@pytest.fixture
def everyone(container: Container) -> Any:
    """A browser session that also carries an all-scope API token and its CSRF token: every
    route gets past authentication, so what answers is the route's handling of the id."""
    user = make_user(container)
    client = browser_login(container, user.username)
    client.headers["X-CSRF-Token"] = csrf_token(client, "/wallet")
    client.headers["Authorization"] = f"Bearer {make_token(container, user)}"
    return client


def test_ids_of_ten_to_the_thirty_answer_404_or_422_on_every_route(
    container: Container, everyone: Any
) -> None:
    app = create_app(container)
    checked, wrong = [], []
    for route in _routes(app.routes):
        ints = _params(route, "path")
        queries = _params(route, "query")
        if not ints and not queries:
            continue
        for method in sorted(route.methods - {"HEAD"}):
            variants = []
            if ints:
                path = route.path
                for name in re.findall(r"{(\w+)(?::\w+)?}", route.path):
                    value = HUGE if name in ints else "x"
                    path = re.sub("{" + name + r"(?::\w+)?}", value, path)
                variants.append((path, {}))
            if not route.path.endswith("/stream"):  # a valid stream never ends by itself
                base = re.sub(r"{\w+(?::\w+)?}", "1", route.path)
                variants += [(base, {q: HUGE}) for q in queries]
            for path, params in variants:
                r = everyone.request(method, path, params=params, follow_redirects=False)
                checked.append((method, path, params))
                allowed = {404, 422} if not params else {200, 303, 404, 422}
                if r.status_code not in allowed or r.status_code >= 500:
                    wrong.append((method, path, params, r.status_code, r.text[:120]))
    assert len(checked) >= 40
    assert wrong == []


def test_web_forms_take_ascii_digits_only(container: Container, everyone: Any) -> None:
    assert form_int("12") == 12
    assert form_int(" 7 ") == 7
    for text in ("²", "١٢", "1_000", "-1", "", "1.5", HUGE, str(2**63)):
        assert form_int(text) is None, text
    assert form_int(str(2**63 - 1)) == 2**63 - 1
    with pytest.raises(InvalidLadderText):
        parse_ladder("² @ 0.5")

    for rating, fill in (("²", "1"), ("5", "²"), ("5", HUGE)):
        r = everyone.post(
            "/models/1/reviews",
            data={"rating": rating, "text": "good", "fill_id": fill, "back": "/"},
        )
        assert r.status_code < 500, (rating, fill, r.text[:200])
    r = everyone.post(
        "/models/1/order/preview",
        data={"instrument_id": "1", "side": "bid", "kind": "limit", "quantity": "²"},
    )
    assert r.status_code < 500
    r = everyone.post(
        "/models/1/order/preview",
        data={"instrument_id": "1", "side": "bid", "quantity": "1", "slot_model_id": "²"},
    )
    assert r.status_code < 500
    r = everyone.post("/models/1/ladder", data={"mode": "file", "levels": "² @ 0.5"})
    assert r.status_code < 500


def test_a_stream_resumes_only_from_an_ascii_event_id(container: Container, everyone: Any) -> None:
    """``Last-Event-ID: ²`` (raw latin-1 bytes, as a client may send) is ignored, not a 500."""
    app = create_app(container)
    for sent in ("²".encode("latin-1"), HUGE.encode()):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/api/v1/fills/stream",
            "raw_path": b"/api/v1/fills/stream",
            "query_string": b"max_events=0",
            "root_path": "",
            "headers": [
                (b"host", b"testserver"),
                (b"authorization", everyone.headers["Authorization"].encode()),
                (b"last-event-id", sent),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
        }

        assert _status(app, scope) == 200, sent


def _status(app: Any, scope: dict) -> int:
    """The status the app answers a bodiless request with (the client leaves after 0.5 s)."""
    out: list[dict] = []
    calls = {"n": 0}

    async def receive() -> dict:
        calls["n"] += 1
        if calls["n"] == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(0.5)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        out.append(message)

    run_in_own_loop(app(scope, receive, send))
    return int(next(m for m in out if m["type"] == "http.response.start")["status"])
