"""Engine, transactions and locking: the only module that knows the database's dialect.

SQLite runs in WAL mode and every write transaction starts with ``BEGIN IMMEDIATE``,
so SQLite is the single writer that serialises money movements. PostgreSQL uses
row locks (``SELECT … FOR UPDATE``), taken by ``locked(query)`` in the repositories.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Select, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from nmrx.platform.private_files import FILE_MODE, private_dir, private_file

Query = TypeVar("Query", bound=Select[Any])
_AFTER_COMMIT = "nmrx.after_commit"
READ_ONLY = "nmrx_read_only"  # execution option of Database.read's connections


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
        if path and path != ":memory:":
            _private_sqlite_file(Path(path))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _private_sqlite_file(path: Path) -> None:
    """The database file readable by its owner only, before SQLite opens it: SQLite gives
    the ``-wal`` and ``-shm`` files it creates the database file's permissions."""
    if not path.parent.exists():
        private_dir(path.parent)
    private_file(path)
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if extra.exists():
            extra.chmod(FILE_MODE)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # a read-only unit of work (Database.read) takes no write lock: WAL readers never wait
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def locked(query: Query) -> Query:
    """The rows ``query`` reads, locked against other writers until the transaction ends.

    ``SELECT … FOR UPDATE`` on PostgreSQL. SQLite has no row locks (SQLAlchemy leaves the
    clause out there): its write transactions already run one at a time (``BEGIN
    IMMEDIATE`` and ``writer_lock``), so the rows cannot change under the reader.
    """
    return query.with_for_update()


def plan_cheaply(session: Session) -> None:
    """For the rest of this transaction, skip PostgreSQL's JIT compilation: for short
    aggregates it costs more than running them. Nothing to do on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def joins_laterally(session: Session) -> bool:
    """Whether the database plans a per-row subquery (``LATERAL``) better than a grouped
    join: PostgreSQL yes, SQLite (which has no ``LATERAL``) no."""
    return session.get_bind().dialect.name == "postgresql"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the transaction of ``session`` (opened by
    ``Database.transaction``) has committed, outside its locks; dropped on rollback."""
    callbacks = session.info.get(_AFTER_COMMIT)
    if callbacks is None:
        raise RuntimeError("after_commit needs a session opened by Database.transaction()")
    callbacks.append(callback)


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

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        callbacks: list[Callable[[], None]] = []
        with writer_lock(self.engine):
            session = self._sessions()
            session.info[_AFTER_COMMIT] = callbacks
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
        for callback in callbacks:  # committed: what waited for it runs now
            callback()

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
