"""Server-sent events: the wire format shared by the market and fill streams, the
poll-past-a-cursor loop of the streams that follow a history (the fill stream), and the
limits every stream keeps (a slowest poll interval, a number of open streams per client)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from nmrx.platform.api_deps import container
from nmrx.platform.bounds import form_int
from nmrx.platform.rate_limit import limiter, stream_client

Row = TypeVar("Row")


def sse(event: str, event_id: int, data: object) -> str:
    """One event: its type, its id (the cursor a reconnecting browser sends back as
    ``Last-Event-ID``) and its JSON data."""
    return f"event: {event}\nid: {event_id}\ndata: {json.dumps(data)}\n\n"


def effective_poll(request: Request, poll: float) -> float:
    """A client may ask to poll less often than the exchange's minimum interval, never more."""
    return max(poll, container(request).settings.rate_limit_stream_min_poll_seconds)


class _HeldStream(StreamingResponse):
    """A stream holding one of its client's stream slots until it ends or the client goes."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None]) -> None:
        super().__init__(
            content, media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def event_stream(
    request: Request, events: AsyncIterator[str], *, user_id: int | None
) -> StreamingResponse:
    """The response of an event stream, counted against its client (the account, else the
    address): a client already holding its limit of open streams is answered 429."""
    release = limiter(request).streams.acquire(stream_client(request, user_id))
    return _HeldStream(events, release)


async def cursor_stream(
    request: Request,
    *,
    event: str,
    opening: str,
    after: int | None,
    latest: Callable[[], int],
    rows_after: Callable[[int], Sequence[Row]],
    cursor_of: Callable[[Row], int],
    data_of: Callable[[Row], object],
    poll: float,
    max_events: int | None,
    user_id: int | None,
) -> StreamingResponse:
    """Stream the rows of a history past a cursor, oldest first, one ``event`` each, polling
    every ``poll`` seconds while nothing is new. The cursor is the ``Last-Event-ID`` a
    reconnecting client sends, else ``after``, else ``latest()`` (from now). ``opening`` is a
    comment sent at once (it opens the stream); ``max_events`` ends it. The stream counts
    against ``user_id``'s open streams (the address's when anonymous)."""
    poll = effective_poll(request, poll)
    resumed = form_int(request.headers.get("last-event-id"))  # ASCII digits, in range
    if resumed is not None:
        after = resumed
    if after is None:
        after = await run_in_threadpool(latest)
    cursor = after

    async def events() -> AsyncIterator[str]:
        nonlocal cursor
        sent = 0
        yield f": {opening}\n\n"  # a comment, not an event
        while max_events is None or sent < max_events:
            rows = await run_in_threadpool(rows_after, cursor)
            for row in rows:
                if max_events is not None and sent >= max_events:
                    return
                cursor = cursor_of(row)
                yield sse(event, cursor, data_of(row))
                sent += 1
            if rows:
                continue
            if await request.is_disconnected():
                return
            await asyncio.sleep(poll)

    return event_stream(request, events(), user_id=user_id)
