"""Output of the client commands: rich tables for people, ``--json`` for scripts, the
server's reason on stderr with a non-zero exit code, progress bars on stderr."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console, JustifyMethod
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from nmrx.client import config
from nmrx.client.client import Client
from nmrx.client.errors import NmrxError
from nmrx.client.models import Money

P = ParamSpec("P")
R = TypeVar("R")
JSON_HELP = "Print JSON (for scripts) instead of a table."


def out() -> Console:
    return Console(highlight=False, soft_wrap=False)


def err() -> Console:
    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = 1) -> typer.Exit:
    err().print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def handled(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn client errors into the server's reason on stderr and a non-zero exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except NmrxError as exc:
            status = f" (HTTP {exc.status})" if exc.status else ""
            Console(stderr=True, highlight=False).print(
                f"[red]error:[/red] {_escape(exc.message)}{status}"
            )
            raise typer.Exit(exc.exit_code) from None
        except (TypeError, ValueError, OSError) as exc:
            raise fail(_escape(str(exc))) from None

    return wrapper


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def client() -> Client:
    """A client configured from the environment or the login stored by ``nmrx login``."""
    if config.loose_permissions():
        err().print(
            f"[yellow]warning:[/yellow] {config.config_path()} is readable by others; "
            "run `chmod 600` on it"
        )
    return Client()


def emit_json(data: Any) -> None:
    """One JSON document on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def as_json(items: Any) -> Any:
    if isinstance(items, list | tuple):
        return [as_json(i) for i in items]
    return items.to_json() if hasattr(items, "to_json") else items


def nmr(value: Money | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, Money):
        return str(value)
    return str(Money(units=value, nmr=""))


def when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    t = Table(title=title, header_style="bold", show_lines=False)
    for name in columns:
        justify: JustifyMethod = "right" if name in NUMERIC else "left"
        t.add_column(name, justify=justify)
    for row in rows:
        t.add_row(*("-" if v is None else str(v) for v in row))
    return t


NUMERIC = {
    "id", "instrument", "round", "qty", "filled", "remaining", "price", "bid", "ask", "last",
    "quantity", "notional", "volume", "trades", "fill", "rows", "bytes", "open", "high", "low",
    "close", "seq", "order", "bid qty", "ask qty", "amount", "units", "available", "held", "collateral", "total",
}  # fmt: skip


@contextmanager
def transfer_progress(
    enabled: bool = True,
) -> Iterator[Callable[[str], Callable[[int, int | None], None]]]:
    """Progress bars on stderr; ``bar(label)`` returns an update(done, total) callback."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err(),
        disable=not enabled,
    )

    def bar(label: str) -> Callable[[int, int | None], None]:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        return update

    with progress:
        yield bar
