"""Numbers bounded at the edge: no id or count past a 64-bit integer reaches the database.

Python's ints have no bound, the database's do (SQLite raises ``OverflowError``,
PostgreSQL ``NumericValueOutOfRange``): an id of 10³⁰ gave a 500. ``bounded_numbers`` runs
before every route: an integer path parameter out of range answers 404 (nothing has that
id), an integer query, form field or JSON number out of range answers 422. ``form_int``
reads a number a web form sent as text (ASCII digits only: ``"²".isdigit()`` is true).
"""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any

from annotated_types import Interval
from fastapi import Request
from fastapi.dependencies.models import Dependant

from nmrx.platform.errors import InvalidInput, NotFound

MAX_INT = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER on SQLite
MIN_INT = -(2**63)
INT64_MIN, INT64_MAX = MIN_INT, MAX_INT
MAX_PAGE = 1_000_000  # page × per_page stays far inside 64 bits
_DIGITS = re.compile(r"[0-9]{1,19}")

# an integer the database can hold, for path and query parameters and JSON fields (the
# declared bound shows in the OpenAPI document; ``bounded_numbers`` covers what is not declared)
Int64 = Annotated[int, Interval(ge=MIN_INT, le=MAX_INT)]


MAX_ID = 2**31 - 1  # ids are INTEGER columns (32 bits on PostgreSQL)


def in_range(value: int, top: int = MAX_INT) -> bool:
    return MIN_INT <= value <= top


def _top(name: str) -> int:
    """Ids (a path parameter, or a field named ``id`` / ``…_id``) fit 32 bits; other numbers
    (amounts in units, counts) 64."""
    return MAX_ID if name == "id" or name.endswith("_id") else MAX_INT


def form_int(text: str | None) -> int | None:
    """A non-negative integer typed into a form as ASCII digits, within range; else None."""
    cleaned = (text or "").strip()
    if not _DIGITS.fullmatch(cleaned):
        return None
    value = int(cleaned)
    return value if value <= MAX_INT else None


def _is_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_int(a) for a in typing.get_args(annotation))
    return False


def _params(dependant: Dependant) -> tuple[list[str], list[str], list[str], bool]:
    """Integer path, query and form parameters of a route (with its dependencies), and
    whether it takes a JSON body."""
    path: list[str] = []
    query: list[str] = []
    form: list[str] = []
    json_body = False
    stack = [dependant]
    while stack:
        d = stack.pop()
        path += [f.alias for f in d.path_params if _is_int(f.field_info.annotation)]
        query += [f.alias for f in d.query_params if _is_int(f.field_info.annotation)]
        for f in d.body_params:
            if type(f.field_info).__name__ in ("Form", "File"):
                if _is_int(f.field_info.annotation):
                    form.append(f.alias)
            else:
                json_body = True
        stack.extend(d.dependencies)
    return path, query, form, json_body


_cache: dict[int, tuple[list[str], list[str], list[str], bool]] = {}


def _out_of_range(text: str, top: int = MAX_INT) -> bool:
    try:
        return not in_range(int(text.strip()), top)
    except ValueError:
        return False  # not a number: the route's own validation answers


def _first_out_of_range(value: Any, where: str) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if in_range(value, _top(where.rsplit(".", 1)[-1])) else where
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)  # type: ignore[assignment]
    else:
        return None
    for key, item in items:
        found = _first_out_of_range(item, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


async def bounded_numbers(request: Request) -> None:
    """App-wide dependency: refuse integers out of range before any route code runs."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    key = id(dependant)
    if key not in _cache:
        _cache[key] = _params(dependant)
    path, query, form, json_body = _cache[key]
    for name in path:
        if _out_of_range(str(request.path_params.get(name, "0")), MAX_ID):
            raise NotFound(f"nothing found: that {name.replace('_', ' ')} does not exist")
    for name in query:
        if any(_out_of_range(v, _top(name)) for v in request.query_params.getlist(name)):
            raise InvalidInput(f"{name}: must be a whole number of at most {_top(name)}")
    content_type = request.headers.get("content-type", "")
    if form and content_type.startswith(("application/x-www-form-urlencoded", "multipart/")):
        values = await request.form()  # parsed once: the route reads the same
        for name in form:
            if any(
                isinstance(v, str) and _out_of_range(v, _top(name)) for v in values.getlist(name)
            ):
                raise InvalidInput(f"{name}: must be a whole number of at most {_top(name)}")
    if json_body and "json" in content_type:
        try:
            body = await request.json()  # parsed once: the route reads the same
        except ValueError:
            return  # malformed JSON: the route's own validation answers
        where = _first_out_of_range(body, "")
        if where is not None:
            top = _top(where.rsplit(".", 1)[-1])
            raise InvalidInput(f"{where or 'body'}: must be a whole number of at most {top}")
