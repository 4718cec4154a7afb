"""Bounds on numbers at the edge: every id and count a request carries fits the database's
64-bit integers, so a path, query, form or JSON value of 10³⁰ answers 422 (or 404), never a
500 from the driver (SQLite ``OverflowError``, PostgreSQL ``NumericValueOutOfRange``)."""

from __future__ import annotations

import re
from typing import Annotated

from annotated_types import Interval

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_PAGE = 1_000_000  # page × per_page stays far inside 64 bits

# an integer the database can hold: path and query parameters, JSON fields
Int64 = Annotated[int, Interval(ge=INT64_MIN, le=INT64_MAX)]

_ASCII_INT = re.compile(r"[0-9]{1,19}")


def form_int(text: str | None) -> int | None:
    """A web form's whole number: ASCII digits only (``"²".isdigit()`` is true, ``int("²")``
    fails), within 64 bits; anything else is None."""
    if text is None:
        return None
    text = text.strip()
    if not _ASCII_INT.fullmatch(text):
        return None
    value = int(text)
    return value if value <= INT64_MAX else None
