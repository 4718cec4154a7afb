"""The order book of one instrument and its matching engine: pure, in memory, no I/O.

Rules (market-rules §4.1):

* **Price-time priority.** The best price trades first; within a price level the
  order with the lowest ``seq`` (placed earliest) trades first. The book assigns
  ``seq`` from a counter that only increases; a book rebuilt from the database keeps
  the stored ``seq`` of each order (:meth:`OrderBook.restore`).
* **A fill executes at the resting (maker) order's price.** Partial fills leave the
  maker at the head of its level with its remaining quantity.
* **Order types.** ``LIMIT`` (GTC) rests whatever does not fill; ``IOC`` cancels its
  unfilled remainder; ``FOK`` fills its whole quantity at once or does nothing;
  ``POST_ONLY`` is rejected if it would cross the book, and rests otherwise.
  :meth:`OrderBook.buy_now` / :meth:`OrderBook.sell_now` are IOC orders priced at the
  best opposite price ("Buy Now" buys only what is offered at the lowest ask).
* **No self-trades — "cancel newest" (a.k.a. expire taker).** An incoming order never
  trades with a resting order of the same owner. Matching walks the opposite side in
  priority order; when the next maker belongs to the incoming order's owner, the
  incoming order stops: fills already made stand, its remaining quantity is cancelled
  (``Cancelled(reason=self_trade)``), and the owner's resting order is left untouched.
  This is the least surprising choice: nobody's resting order changes because of
  someone else's action, the newest instruction is the one that yields, and the book
  is never left crossed (resting the remainder would cross the owner's own order).
  For ``FOK`` the available quantity is what lies *before* the first own order in
  priority order; if that is not enough the FOK is cancelled (``reason=fok``) whole.
  A ``POST_ONLY`` order that would cross only its owner's orders is still rejected
  (it would cross the book).
* **Never crossed.** After every call, ``best_bid() < best_ask()`` (when both exist).
* :meth:`OrderBook.expire_all` is the book closing: every resting order expires.

Every mutating call returns the list of events it caused (see :mod:`nmrx.market.orders`).
Validation failures are :class:`Rejected` events, not exceptions; exceptions mean
misuse (e.g. restoring into a non-empty book).

Data structures: each side is a ``SortedDict`` from a *key* to a price level, keyed so
that the best level is first (asks by price, bids by negative price); a level is a
FIFO ``deque`` of orders with its live quantity and count. Cancellation is O(1) by
lazy deletion: the order is marked dead (``remaining = 0``) and dropped from the
indexes; a dead order still in a deque is skipped when it reaches the head (a queue
that becomes mostly dead is compacted), and a level whose live count drops to zero is
removed at once so the best price, cached per side, is always exact.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import islice

from sortedcontainers import SortedDict

from nmrx.market.orders import (
    Accepted,
    Cancelled,
    CancelReason,
    Event,
    Expired,
    Filled,
    Order,
    OrderType,
    Rejected,
    RejectReason,
    RestingOrder,
    Side,
)
from nmrx.wallet.money import TICK, is_on_tick

__all__ = ["OrderBook", "CrossedBookError"]

_BID = Side.BID
_ASK = Side.ASK
_LIMIT = OrderType.LIMIT
_IOC = OrderType.IOC
_FOK = OrderType.FOK
_POST_ONLY = OrderType.POST_ONLY
_BY_IOC = CancelReason.IOC
_BY_FOK = CancelReason.FOK
_BY_SELF_TRADE = CancelReason.SELF_TRADE
_INVALID_PRICE = RejectReason.INVALID_PRICE
_INVALID_QUANTITY = RejectReason.INVALID_QUANTITY
_DUPLICATE_ORDER_ID = RejectReason.DUPLICATE_ORDER_ID
_POST_ONLY_WOULD_TAKE = RejectReason.POST_ONLY_WOULD_TAKE


class CrossedBookError(ValueError):
    """Orders given to :meth:`OrderBook.restore` would leave the book crossed."""


class _Live:
    """A resting order inside the book (mutable; never handed out)."""

    __slots__ = ("order_id", "owner", "side", "price", "quantity", "remaining", "seq")

    def __init__(
        self,
        order_id: str,
        owner: int,
        side: Side,
        price: int,
        quantity: int,
        remaining: int,
        seq: int,
    ) -> None:
        self.order_id = order_id
        self.owner = owner
        self.side = side
        self.price = price
        self.quantity = quantity
        self.remaining = remaining  # 0 once filled or cancelled (dead)
        self.seq = seq

    def snapshot(self) -> RestingOrder:
        return RestingOrder(
            self.order_id,
            self.owner,
            self.side,
            self.price,
            self.quantity,
            self.remaining,
            self.seq,
        )


class _Level:
    """One price level: FIFO queue (may hold dead orders), live quantity and live count."""

    __slots__ = ("price", "orders", "total", "count")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[_Live] = deque()
        self.total = 0
        self.count = 0


_EMPTY = float("inf")  # the best key of an empty side: no limit key reaches it


class _Half:
    """One side of the book: levels by key (best first) and the cached best key.

    Asks are keyed by price and bids by ``-price``, so on both sides the best level
    has the smallest key and an incoming order crosses a level iff
    ``level key <= its limit key`` (``price`` for a bid, ``-price`` for an ask).
    """

    __slots__ = ("side", "sign", "levels", "keys", "best")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.sign = 1 if side is Side.ASK else -1
        self.levels: SortedDict = SortedDict()
        self.keys = self.levels.keys()  # a live sorted view
        self.best: float = _EMPTY  # smallest key, cached: read on every order

    def add(self, live: _Live) -> None:
        key = live.price * self.sign
        level: _Level | None = self.levels.get(key)
        if level is None:
            level = self.levels[key] = _Level(live.price)
            if key < self.best:
                self.best = key
        level.orders.append(live)
        level.total += live.remaining
        level.count += 1

    def drop_level(self, key: float) -> None:  # float: keys are compared with ``best``
        levels = self.levels
        del levels[key]
        if key == self.best:
            self.best = self.keys[0] if levels else _EMPTY

    def clear(self) -> None:
        self.levels.clear()
        self.best = _EMPTY


class OrderBook:
    """The limit order book of one instrument."""

    def __init__(self, instrument_id: object = None) -> None:
        self.instrument_id = instrument_id
        self._bids = _Half(Side.BID)
        self._asks = _Half(Side.ASK)
        self._orders: dict[str, _Live] = {}  # live resting orders, in seq order
        self._by_owner: dict[int, dict[str, _Live]] = {}
        self._next_seq = 1

    # ------------------------------------------------------------------ orders

    def submit(self, order: Order) -> list[Event]:
        """Match ``order`` against the book; rest what a LIMIT / POST_ONLY leaves over.

        Longer than a screen on purpose: this is the engine's hot path. Resting the
        remainder through :meth:`_rest` (one more call, the order's fields read back)
        costs ~1 % more instructions on ``bench/engine.py``'s stream (counted with
        valgrind), so ``_Half.add`` and ``_rest`` stay inlined here.
        """
        order_id = order.order_id
        price = order.price
        quantity = order.quantity
        if type(price) is not int or price <= 0 or price % TICK:
            return [Rejected(order_id, _INVALID_PRICE)]
        if type(quantity) is not int or quantity <= 0:
            return [Rejected(order_id, _INVALID_QUANTITY)]
        if order_id in self._orders:
            return [Rejected(order_id, _DUPLICATE_ORDER_ID)]
        side = order.side
        order_type = order.order_type
        owner = order.owner
        if side is _BID:
            opposite = self._asks
            limit_key = price
        else:
            opposite = self._bids
            limit_key = -price
        crosses = opposite.best <= limit_key
        if crosses and order_type is _POST_ONLY:
            return [Rejected(order_id, _POST_ONLY_WOULD_TAKE)]

        seq = self._next_seq
        self._next_seq = seq + 1
        events: list[Event] = [Accepted(order_id, owner, side, price, quantity, order_type, seq)]
        remaining = quantity
        if crosses:
            if order_type is _FOK and not self._fok_fillable(opposite, limit_key, owner, quantity):
                events.append(Cancelled(order_id, owner, side, price, quantity, _BY_FOK))
                return events
            remaining = self._match(opposite, order_id, owner, side, limit_key, quantity, events)
            if remaining < 0:  # stopped at the owner's own resting order
                events.append(Cancelled(order_id, owner, side, price, -remaining, _BY_SELF_TRADE))
                return events
        if remaining:
            if order_type is _LIMIT or order_type is _POST_ONLY:
                # Rest: _Half.add and _rest inlined (the hot path of a book that grows).
                live = _Live(order_id, owner, side, price, quantity, remaining, seq)
                own = self._bids if side is _BID else self._asks
                key = -limit_key
                levels = own.levels
                level: _Level | None = levels.get(key)
                if level is None:
                    level = levels[key] = _Level(price)
                    if key < own.best:
                        own.best = key
                level.orders.append(live)
                level.total += remaining
                level.count += 1
                self._orders[order_id] = live
                mine = self._by_owner.get(owner)
                if mine is None:
                    self._by_owner[owner] = {order_id: live}
                else:
                    mine[order_id] = live
            else:
                reason = _BY_IOC if order_type is _IOC else _BY_FOK
                events.append(Cancelled(order_id, owner, side, price, remaining, reason))
        return events

    def buy_now(self, order_id: str, owner: int, quantity: int) -> list[Event]:
        """Buy Now: an IOC bid at the lowest ask's price (only that level can fill)."""
        best = self.best_ask()
        if best is None:
            return [Rejected(order_id, RejectReason.NO_LIQUIDITY)]
        return self.submit(Order(order_id, owner, _BID, best, quantity, _IOC))

    def sell_now(self, order_id: str, owner: int, quantity: int) -> list[Event]:
        """Sell Now: an IOC ask at the highest bid's price (only that level can fill)."""
        best = self.best_bid()
        if best is None:
            return [Rejected(order_id, RejectReason.NO_LIQUIDITY)]
        return self.submit(Order(order_id, owner, _ASK, best, quantity, _IOC))

    def cancel(self, order_id: str, reason: CancelReason = CancelReason.USER) -> list[Event]:
        """Cancel a resting order; ``[]`` if it is not resting (filled, cancelled, unknown)."""
        live = self._orders.get(order_id)
        if live is None:
            return []
        remaining = live.remaining
        self._remove(live)
        return [Cancelled(order_id, live.owner, live.side, live.price, remaining, reason)]

    def cancel_owner(
        self, owner: int, side: Side | None = None, reason: CancelReason = CancelReason.USER
    ) -> list[Event]:
        """Cancel every resting order of ``owner`` (on one side if given), oldest first."""
        mine = self._by_owner.get(owner)
        if not mine:
            return []
        events: list[Event] = []
        for live in sorted(mine.values(), key=_seq_of):
            if side is None or live.side is side:
                events.extend(self.cancel(live.order_id, reason))
        return events

    def expire_all(self) -> list[Event]:
        """Close the book: every resting order expires (oldest first); the book is empty."""
        events: list[Event] = [
            Expired(live.order_id, live.owner, live.side, live.price, live.remaining)
            for live in self._orders.values()
        ]
        for live in self._orders.values():
            live.remaining = 0
        self._bids.clear()
        self._asks.clear()
        self._orders.clear()
        self._by_owner.clear()
        return events

    def restore(
        self, resting_orders: Iterable[RestingOrder], *, next_seq: int | None = None
    ) -> None:
        """Rebuild an empty book from stored resting orders, keeping their ``seq`` priority.

        ``next_seq`` (e.g. the highest ``seq`` ever stored for the instrument + 1) is the
        ``seq`` of the next accepted order; by default one more than the highest restored.
        Raises ``ValueError`` for a non-empty book, an invalid order, a duplicate id or
        seq, a ``next_seq`` not above every restored ``seq``, and
        :class:`CrossedBookError` if the orders would cross.
        """
        if self._orders:
            raise ValueError("restore() needs an empty book")
        ordered = sorted(resting_orders, key=lambda o: o.seq)
        seqs: set[int] = set()
        try:
            for o in ordered:
                if not is_on_tick(o.price) or not 0 < o.remaining <= o.quantity or o.seq < 1:
                    raise ValueError(f"cannot restore invalid resting order {o!r}")
                if o.order_id in self._orders or o.seq in seqs:
                    raise ValueError(f"duplicate order id or seq in restore: {o!r}")
                seqs.add(o.seq)
                self._rest(
                    _Live(o.order_id, o.owner, o.side, o.price, o.quantity, o.remaining, o.seq)
                )
            bid, ask = self.best_bid(), self.best_ask()
            if bid is not None and ask is not None and bid >= ask:
                raise CrossedBookError(f"restored book is crossed: bid {bid} >= ask {ask}")
            lowest_next = max(seqs, default=0) + 1
            if next_seq is not None and next_seq < lowest_next:
                raise ValueError(f"next_seq {next_seq} must be above every restored seq")
        except ValueError:
            self.expire_all()
            raise
        self._next_seq = max(self._next_seq, lowest_next if next_seq is None else next_seq)

    # ----------------------------------------------------------------- queries

    def best_bid(self) -> int | None:
        best = self._bids.best
        return None if best == _EMPTY else -int(best)

    def best_ask(self) -> int | None:
        best = self._asks.best
        return None if best == _EMPTY else int(best)

    def spread(self) -> int | None:
        bid, ask = self.best_bid(), self.best_ask()
        return None if bid is None or ask is None else ask - bid

    def depth(self, side: Side, limit: int | None = None) -> list[tuple[int, int]]:
        """L2 depth of one side: ``(price, total remaining quantity)``, best price first."""
        levels = (self._bids if side is _BID else self._asks).levels.values()
        chosen: Iterable[_Level] = levels if limit is None else islice(levels, limit)
        return [(level.price, level.total) for level in chosen]

    def l2(self, limit: int | None = None) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """``(bids, asks)`` depth, each best price first."""
        return self.depth(_BID, limit), self.depth(_ASK, limit)

    def get(self, order_id: str) -> RestingOrder | None:
        """The resting order with this id, or ``None``."""
        live = self._orders.get(order_id)
        return None if live is None else live.snapshot()

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def __len__(self) -> int:
        """Number of resting orders."""
        return len(self._orders)

    def open_orders(self, owner: int) -> list[RestingOrder]:
        """Resting orders of ``owner``, oldest first."""
        mine = self._by_owner.get(owner)
        if not mine:
            return []
        return [live.snapshot() for live in sorted(mine.values(), key=_seq_of)]

    def resting_orders(self) -> list[RestingOrder]:
        """Every resting order, oldest first (what :meth:`restore` takes back)."""
        return [live.snapshot() for live in self._orders.values()]

    def orders_at(self, side: Side, price: int) -> list[RestingOrder]:
        """Resting orders at one price level, in time priority."""
        half = self._bids if side is _BID else self._asks
        level: _Level | None = half.levels.get(price * half.sign)
        if level is None:
            return []
        return [live.snapshot() for live in level.orders if live.remaining]

    @property
    def next_seq(self) -> int:
        """The ``seq`` the next accepted order will get."""
        return self._next_seq

    # ---------------------------------------------------------------- internals

    def _match(
        self,
        opposite: _Half,
        order_id: str,
        owner: int,
        side: Side,
        limit_key: int,
        quantity: int,
        events: list[Event],
    ) -> int:
        """Fill against ``opposite`` up to ``limit_key``; append fills to ``events``.

        Returns the remaining quantity, or ``-remaining`` if matching stopped at an
        order of the same owner (self-trade prevention).

        One function on purpose: this is the engine's hot path. The outer loop walks
        the price levels (price priority), the inner loop the makers of one level (time
        priority); a function per level costs a call for each level an order reaches,
        ~0.7 % more instructions on ``bench/engine.py``'s stream (counted with valgrind).
        """
        orders = self._orders
        by_owner = self._by_owner
        levels = opposite.levels
        taker_is_bid = side is _BID
        remaining = quantity
        key = opposite.best
        while key <= limit_key:
            level: _Level = levels[key]
            queue = level.orders
            price = level.price
            while level.count:
                maker = queue[0]
                maker_remaining = maker.remaining
                if not maker_remaining:  # cancelled earlier (lazy deletion)
                    queue.popleft()
                    continue
                maker_owner = maker.owner
                if maker_owner == owner:
                    return -remaining
                traded = remaining if remaining < maker_remaining else maker_remaining
                remaining -= traded
                maker_remaining -= traded
                maker.remaining = maker_remaining
                level.total -= traded
                if not maker_remaining:
                    queue.popleft()
                    level.count -= 1
                    del orders[maker.order_id]
                    mine = by_owner[maker_owner]
                    del mine[maker.order_id]
                    if not mine:
                        del by_owner[maker_owner]
                if taker_is_bid:
                    buyer, seller = owner, maker_owner
                else:
                    buyer, seller = maker_owner, owner
                events.append(
                    Filled(
                        order_id,
                        maker.order_id,
                        side,
                        buyer,
                        seller,
                        price,
                        traded,
                        remaining,
                        maker_remaining,
                    )
                )
                if not remaining:
                    break
            if level.count:
                break  # the incoming order is filled
            opposite.drop_level(key)
            if not remaining:
                break
            key = opposite.best
        return remaining

    def _fok_fillable(self, opposite: _Half, limit_key: int, owner: int, quantity: int) -> bool:
        """Whether ``quantity`` can trade at once up to ``limit_key`` before an own order."""
        mine = self._by_owner.get(owner, {})
        own_on_opposite = any(o.side is opposite.side for o in mine.values())
        levels = opposite.levels
        available = 0
        for key in levels.irange(maximum=limit_key):
            level: _Level = levels[key]
            if not own_on_opposite:
                available += level.total
            else:
                for live in level.orders:
                    if not live.remaining:
                        continue
                    if live.owner == owner:
                        return False
                    available += live.remaining
                    if available >= quantity:
                        return True
            if available >= quantity:
                return True
        return False

    def _rest(self, live: _Live) -> None:
        (self._bids if live.side is _BID else self._asks).add(live)
        self._orders[live.order_id] = live
        mine = self._by_owner.get(live.owner)
        if mine is None:
            self._by_owner[live.owner] = {live.order_id: live}
        else:
            mine[live.order_id] = live

    def _remove(self, live: _Live) -> None:
        """Take a live order out of the book (lazy: it stays in its deque, marked dead)."""
        half = self._bids if live.side is _BID else self._asks
        key = live.price * half.sign
        level: _Level = half.levels[key]
        level.total -= live.remaining
        level.count -= 1
        live.remaining = 0
        if not level.count:
            half.drop_level(key)
        else:
            queue = level.orders
            if queue[0] is live:
                queue.popleft()
            elif len(queue) > 2 * level.count + 8:  # too many dead: compact (amortised O(1))
                level.orders = deque(o for o in queue if o.remaining)
        del self._orders[live.order_id]
        mine = self._by_owner[live.owner]
        del mine[live.order_id]
        if not mine:
            del self._by_owner[live.owner]


def _seq_of(live: _Live) -> int:
    return live.seq
