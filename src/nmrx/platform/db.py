"""Engine and transactions.

SQLite runs in WAL mode and every write transaction starts with ``BEGIN IMMEDIATE``,
so SQLite is the single writer that serialises money movements. PostgreSQL uses
row locks (``SELECT … FOR UPDATE``) taken by the repositories.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

READ_ONLY = "nmrx_read_only"  # execution option of Database.read's connections


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        # a read-only unit of work (Database.read) takes no write lock: WAL readers never wait
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


_writers: weakref.WeakKeyDictionary[Engine, AbstractContextManager[object]] = (
    weakref.WeakKeyDictionary()
)
_writers_guard = threading.Lock()


def writer_lock(engine: Engine) -> AbstractContextManager[object]:
    """On SQLite, the queue this process's threads wait in for the single write lock.

    Every SQLite transaction takes the write lock (``BEGIN IMMEDIATE``). Left to SQLite,
    a thread that finds it taken sleeps in growing steps (its busy handler: 1, 2, 5 … up
    to 100 ms) and can lose to newcomers again and again: under 32 concurrent requests
    a ~1 ms transaction then waits up to ~2 s (p99 0.8–1 s in ``bench/http_orders.py``,
    0.4 s with this lock). Waiting on a lock here wakes the next thread as soon as the
    transaction ends. Other processes still wait in SQLite. Re-entrant, so a nested
    transaction behaves as before. PostgreSQL needs nothing: its row locks queue.
    """
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _writers_guard:
        lock = _writers.get(engine)
        if lock is None:
            lock = _writers[engine] = threading.RLock()
        return lock


class Database:
    """The unit of work factory: ``with db.transaction() as session: …`` commits or rolls back."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._readers = sessionmaker(
            engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )

    @property
    def is_postgres(self) -> bool:
        return is_postgres(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with writer_lock(self.engine):
            session = self._sessions()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work: no write lock (on SQLite neither this process's writer
        queue nor ``BEGIN IMMEDIATE``), always rolled back. For reads that precede slow work
        (a password check) which must not hold up every writer."""
        session = self._readers()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
