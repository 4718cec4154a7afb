"""The per-process book cache: the books this process used, each tagged with its instrument's
``book_seq`` at commit.

Rebuilding a book from its open orders costs a query per placement, so each process
keeps the books it used. A transaction *checks out* the book under the instrument lock
and uses it only if the tag equals the stored ``book_seq`` (no other process or thread
changed the book since); otherwise it rebuilds from the database. The book is checked
back in only after the commit succeeded; a rolled-back transaction just drops it.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable

from nmrx.market.orderbook import OrderBook
from nmrx.platform.db import Database

CACHE_SIZE = 512  # books kept per process and database


class BookCache:
    """The books of one database in this process, each tagged with its ``book_seq``."""

    def __init__(self) -> None:
        self._books: OrderedDict[int, tuple[int, OrderBook]] = OrderedDict()
        self._lock = threading.Lock()

    def checkout(
        self, instrument_id: int, book_seq: int, rebuild: Callable[[], OrderBook]
    ) -> OrderBook:
        """The instrument's current book, owned by the caller until :meth:`checkin`.

        Call with the instrument locked, with its stored ``book_seq``. A cached book is
        used only if its tag matches; otherwise ``rebuild()`` reads it from the database.
        """
        with self._lock:
            cached = self._books.pop(instrument_id, None)
        if cached is not None and cached[0] == book_seq:
            return cached[1]
        return rebuild()

    def checkin(self, instrument_id: int, book_seq: int, book: OrderBook) -> None:
        """Keep a book after its transaction committed with ``book_seq``."""
        with self._lock:
            current = self._books.get(instrument_id)
            if current is not None and current[0] > book_seq:
                return  # a later version is already here
            self._books[instrument_id] = (book_seq, book)
            self._books.move_to_end(instrument_id)
            while len(self._books) > CACHE_SIZE:
                self._books.popitem(last=False)

    def discard(self, instrument_id: int) -> None:
        with self._lock:
            self._books.pop(instrument_id, None)


_caches: weakref.WeakKeyDictionary[Database, BookCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def book_cache(db: Database) -> BookCache:
    with _caches_lock:
        cache = _caches.get(db)
        if cache is None:
            cache = _caches[db] = BookCache()
        return cache
