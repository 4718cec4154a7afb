"""Plain statements on a transaction's own DBAPI connection: the plumbing of the write path.

A placement is a dozen small statements; through the ORM each costs ~0.2 ms on this
machine, through SQLAlchemy Core ~30 µs, through the DBAPI cursor a few microseconds,
which is what makes 1,000+ durable placements a second possible on SQLite
(``bench/placements.py``). The features' repositories (:mod:`nmrx.wallet.repo` for
the ledger, :mod:`nmrx.market.repo` for orders and fills) write their SQL on a
:class:`Sql`; nothing here knows a table.

A :class:`Sql` runs inside its caller's transaction and never commits: either an ORM
session's (:meth:`Sql.of`, after flushing what the session holds) or a session-less one
(:func:`raw_transaction`). SQL is written with ``:name`` parameters (sqlite3's style)
and rewritten once to ``%(name)s`` for psycopg. Times are stored as SQLAlchemy's
``UtcDateTime`` stores them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from nmrx.platform.db import writer_lock

_PARAM = re.compile(r"(?<![:\w]):(\w+)")
S = TypeVar("S", bound="Sql")


class Sql:
    """Statements on one transaction's DBAPI connection (create one per transaction)."""

    _converted: dict[str, str] = {}

    def __init__(self, driver_connection: Any, *, pg: bool) -> None:
        self.pg = pg
        self.cursor = driver_connection.cursor()
        self.lock = " FOR UPDATE" if pg else ""
        self.share_lock = " FOR SHARE" if pg else ""
        self._last_time: tuple[object, object] = (None, None)

    def lock_of(self, alias: str) -> str:
        """``FOR UPDATE OF alias`` on PostgreSQL; nothing on SQLite (one writer at a time)."""
        return f" FOR UPDATE OF {alias}" if self.pg else ""

    @classmethod
    def of(cls: type[S], session: Session) -> S:
        """On the connection of an ORM session's transaction (its pending rows flushed)."""
        session.flush()
        connection = session.connection()
        return cls(
            connection.connection.driver_connection,
            pg=connection.dialect.name == "postgresql",
        )

    def _sql(self, sql: str) -> str:
        if not self.pg:
            return sql
        done = self._converted.get(sql)
        if done is None:
            done = self._converted[sql] = _PARAM.sub(r"%(\1)s", sql)
        return done

    def run(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self.cursor.execute(self._sql(sql), params or {})

    def many(self, sql: str, rows: list[dict[str, Any]]) -> None:
        self.cursor.executemany(self._sql(sql), rows)

    def one(self, sql: str, params: dict[str, Any] | None = None) -> tuple | None:
        self.cursor.execute(self._sql(sql), params or {})
        return self.cursor.fetchone()

    def all(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        self.cursor.execute(self._sql(sql), params or {})
        return self.cursor.fetchall()

    def time(self, moment: datetime) -> object:
        """A time as ``UtcDateTime`` stores it (text on SQLite)."""
        if moment is self._last_time[0]:
            return self._last_time[1]
        utc = moment.astimezone(UTC)
        stored = utc if self.pg else utc.strftime("%Y-%m-%d %H:%M:%S.%f")
        self._last_time = (moment, stored)
        return stored

    @staticmethod
    def read_time(value: object) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def on(target: Session | Sql) -> Sql:
    """The statements of a session's transaction, or ``target`` itself."""
    return target if isinstance(target, Sql) else Sql.of(target)


@contextmanager
def raw_transaction(engine: Engine, kind: type[S]) -> Iterator[S]:
    """A transaction straight on a pooled DBAPI connection, without an ORM session (the
    session's own begin/commit machinery costs about as much as a whole placement's SQL).
    SQLite: ``BEGIN IMMEDIATE`` as :mod:`nmrx.platform.db` does; commits or rolls
    back like ``Database.transaction``."""
    with writer_lock(engine):
        pooled = engine.raw_connection()
        driver = pooled.driver_connection
        assert driver is not None  # a checked-out pooled connection has its driver connection
        pg = engine.dialect.name == "postgresql"
        try:
            if not pg:
                driver.execute("BEGIN IMMEDIATE")
            yield kind(driver, pg=pg)
            driver.commit()
        except BaseException:
            driver.rollback()
            raise
        finally:
            pooled.close()


def wrap_driver_error(exc: Exception) -> DBAPIError | None:
    """A DBAPI error raised by a raw cursor, wrapped as SQLAlchemy would (else ``None``)."""
    if isinstance(exc, DBAPIError):
        return exc
    module = type(exc).__module__
    if not (module.startswith("psycopg") or module.startswith("sqlite3")):
        return None
    integrity = "IntegrityError" in type(exc).__name__ or "UniqueViolation" in type(exc).__name__
    cls = IntegrityError if integrity else DBAPIError
    return cls(None, None, exc)
