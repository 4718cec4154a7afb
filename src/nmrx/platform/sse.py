"""Server-sent events: the wire format shared by the market and fill streams, and the
poll-past-a-cursor loop of the streams that follow a history (the fill stream)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from nmrx.platform.bounds import form_int

Row = TypeVar("Row")


def sse(event: str, event_id: int, data: object) -> str:
    """One event: its type, its id (the cursor a reconnecting browser sends back as
    ``Last-Event-ID``) and its JSON data."""
    return f"event: {event}\nid: {event_id}\ndata: {json.dumps(data)}\n\n"


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
) -> StreamingResponse:
    """Stream the rows of a history past a cursor, oldest first, one ``event`` each, polling
    every ``poll`` seconds while nothing is new. The cursor is the ``Last-Event-ID`` a
    reconnecting client sends, else ``after``, else ``latest()`` (from now). ``opening`` is a
    comment sent at once (it opens the stream); ``max_events`` ends it."""
    resumed = form_int(request.headers.get("last-event-id"))  # ASCII digits within 64 bits
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

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )
