"""Server-sent events: the wire format shared by the market and fill streams."""

from __future__ import annotations

import json


def sse(event: str, event_id: int, data: object) -> str:
    """One event: its type, its id (the cursor a reconnecting browser sends back as
    ``Last-Event-ID``) and its JSON data."""
    return f"event: {event}\nid: {event_id}\ndata: {json.dumps(data)}\n\n"
