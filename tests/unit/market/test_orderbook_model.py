"""Model-based test: the engine against a naive reference book on random order streams.

The reference keeps resting orders in a plain list and sorts the crossing ones by
(price, seq) on every order: obviously right, hopelessly slow. Both must emit the
same events (accepts, fills with maker/taker/price/quantity/remainders, cancels,
rejects) in the same order and hold the same resting orders after every step.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from nmrx.market.orderbook import OrderBook
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
from nmrx.wallet.money import TICK, nmr

MID = nmr("0.05")
OWNERS = st.integers(min_value=1, max_value=3)  # few owners: self-trades are frequent
SIDES = st.sampled_from([Side.BID, Side.ASK])
PRICES = st.integers(min_value=-3, max_value=3).map(lambda ticks: MID + ticks * TICK)
# Bids mostly below the mid and asks mostly above, overlapping: the book fills up and
# still crosses often.
BID_PRICES = st.integers(min_value=-4, max_value=1).map(lambda ticks: MID + ticks * TICK)
ASK_PRICES = st.integers(min_value=-1, max_value=4).map(lambda ticks: MID + ticks * TICK)
QUANTITIES = st.integers(min_value=1, max_value=6)
TYPES = st.sampled_from(
    [OrderType.LIMIT, OrderType.LIMIT, OrderType.IOC, OrderType.FOK, OrderType.POST_ONLY]
)


@dataclass
class _NaiveOrder:
    order_id: str
    owner: int
    side: Side
    price: int
    quantity: int
    remaining: int
    seq: int


class NaiveBook:
    """The rules written as directly as possible, over a flat list of resting orders."""

    def __init__(self) -> None:
        self.resting: list[_NaiveOrder] = []
        self.next_seq = 1

    def submit(self, order: Order) -> list[Event]:
        oid, owner, side, price, qty, kind = (
            order.order_id,
            order.owner,
            order.side,
            order.price,
            order.quantity,
            order.order_type,
        )
        if price <= 0 or price % TICK:
            return [Rejected(oid, RejectReason.INVALID_PRICE)]
        if qty <= 0:
            return [Rejected(oid, RejectReason.INVALID_QUANTITY)]
        if any(r.order_id == oid for r in self.resting):
            return [Rejected(oid, RejectReason.DUPLICATE_ORDER_ID)]
        is_bid = side is Side.BID
        crossing = [
            r
            for r in self.resting
            if r.side is not side and (r.price <= price if is_bid else r.price >= price)
        ]
        crossing.sort(key=lambda r: (r.price if is_bid else -r.price, r.seq))
        if kind is OrderType.POST_ONLY and crossing:
            return [Rejected(oid, RejectReason.POST_ONLY_WOULD_TAKE)]
        seq = self.next_seq
        self.next_seq += 1
        events: list[Event] = [Accepted(oid, owner, side, price, qty, kind, seq)]
        if kind is OrderType.FOK:
            available = 0
            for r in crossing:
                if r.owner == owner:
                    break
                available += r.remaining
            if available < qty:
                return [*events, Cancelled(oid, owner, side, price, qty, CancelReason.FOK)]
        remaining = qty
        for r in crossing:
            if not remaining:
                break
            if r.owner == owner:
                events.append(
                    Cancelled(oid, owner, side, price, remaining, CancelReason.SELF_TRADE)
                )
                return events
            traded = min(remaining, r.remaining)
            remaining -= traded
            r.remaining -= traded
            buyer, seller = (owner, r.owner) if is_bid else (r.owner, owner)
            events.append(
                Filled(
                    oid, r.order_id, side, buyer, seller, r.price, traded, remaining, r.remaining
                )
            )
            if not r.remaining:
                self.resting.remove(r)
        if remaining:
            if kind in (OrderType.LIMIT, OrderType.POST_ONLY):
                self.resting.append(_NaiveOrder(oid, owner, side, price, qty, remaining, seq))
            else:
                reason = CancelReason.IOC if kind is OrderType.IOC else CancelReason.FOK
                events.append(Cancelled(oid, owner, side, price, remaining, reason))
        return events

    def best(self, side: Side) -> int | None:
        prices = [r.price for r in self.resting if r.side is side]
        if not prices:
            return None
        return max(prices) if side is Side.BID else min(prices)

    def now(self, oid: str, owner: int, side: Side, qty: int) -> list[Event]:
        best = self.best(side.opposite)
        if best is None:
            return [Rejected(oid, RejectReason.NO_LIQUIDITY)]
        return self.submit(Order(oid, owner, side, best, qty, OrderType.IOC))

    def cancel(self, oid: str) -> list[Event]:
        for r in self.resting:
            if r.order_id == oid:
                self.resting.remove(r)
                return [Cancelled(oid, r.owner, r.side, r.price, r.remaining, CancelReason.USER)]
        return []

    def expire_all(self) -> list[Event]:
        events: list[Event] = [
            Expired(r.order_id, r.owner, r.side, r.price, r.remaining)
            for r in sorted(self.resting, key=lambda r: r.seq)
        ]
        self.resting.clear()
        return events

    def snapshot(self) -> list[RestingOrder]:
        return [
            RestingOrder(r.order_id, r.owner, r.side, r.price, r.quantity, r.remaining, r.seq)
            for r in sorted(self.resting, key=lambda r: r.seq)
        ]


class BookMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.book = OrderBook()
        self.model = NaiveBook()
        self.ids: list[str] = []
        self.counter = 0
        self.accepted = 0  # quantity of accepted orders
        self.filled = 0  # quantity traded (counted once per fill)
        self.cancelled = 0  # quantity cancelled or expired

    def _new_id(self) -> str:
        self.counter += 1
        oid = f"o{self.counter}"
        self.ids.append(oid)
        return oid

    def _check(self, got: list[Event], expected: list[Event]) -> None:
        assert got == expected
        for event in got:
            if isinstance(event, Accepted):
                self.accepted += event.quantity
            elif isinstance(event, Filled):
                self.filled += event.quantity
            elif isinstance(event, Cancelled):
                self.cancelled += event.remaining

    def _place(self, owner: int, side: Side, price: int, qty: int, kind: OrderType) -> None:
        order = Order(self._new_id(), owner, side, price, qty, kind)
        self._check(self.book.submit(order), self.model.submit(order))

    @rule(owner=OWNERS, price=BID_PRICES, qty=QUANTITIES, kind=TYPES)
    def place_bid(self, owner: int, price: int, qty: int, kind: OrderType) -> None:
        self._place(owner, Side.BID, price, qty, kind)

    @rule(owner=OWNERS, price=ASK_PRICES, qty=QUANTITIES, kind=TYPES)
    def place_ask(self, owner: int, price: int, qty: int, kind: OrderType) -> None:
        self._place(owner, Side.ASK, price, qty, kind)

    @rule(owner=OWNERS, side=SIDES, price=PRICES, qty=QUANTITIES)
    def place_limit(self, owner: int, side: Side, price: int, qty: int) -> None:
        self._place(owner, side, price, qty, OrderType.LIMIT)

    @precondition(lambda self: self.model.resting)
    @rule(data=st.data(), through=st.integers(0, 2), qty=QUANTITIES, kind=TYPES)
    def place_against_own_order(
        self, data: st.DataObject, through: int, qty: int, kind: OrderType
    ) -> None:
        """An order crossing one of its owner's resting orders: self-trade prevention."""
        own = data.draw(st.sampled_from(self.model.resting))
        side = own.side.opposite
        price = own.price + (through if side is Side.BID else -through) * TICK
        self._place(own.owner, side, price, qty, kind)

    @precondition(lambda self: self.model.resting or self.counter % 10 == 0)
    @rule(owner=OWNERS, side=SIDES, qty=QUANTITIES)
    def now(self, owner: int, side: Side, qty: int) -> None:
        oid = self._new_id()
        engine = self.book.buy_now if side is Side.BID else self.book.sell_now
        self._check(engine(oid, owner, qty), self.model.now(oid, owner, side, qty))

    @precondition(lambda self: self.model.resting)
    @rule(data=st.data())
    def cancel_resting(self, data: st.DataObject) -> None:
        oid = data.draw(st.sampled_from([r.order_id for r in self.model.resting]))
        self._check(self.book.cancel(oid), self.model.cancel(oid))

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def cancel_any(self, data: st.DataObject) -> None:
        oid = data.draw(st.sampled_from([*self.ids, "unknown"]))
        self._check(self.book.cancel(oid), self.model.cancel(oid))

    @precondition(lambda self: self.model.resting)
    @rule(data=st.data(), side=SIDES, price=PRICES)
    def place_duplicate_id(self, data: st.DataObject, side: Side, price: int) -> None:
        oid = data.draw(st.sampled_from([r.order_id for r in self.model.resting]))
        order = Order(oid, 1, side, price, 1)
        self._check(self.book.submit(order), self.model.submit(order))

    @precondition(lambda self: self.counter % 10 == 0)
    @rule(offset=st.sampled_from([-TICK, 0, 1, TICK // 2]), qty=st.integers(-1, 1))
    def place_invalid(self, offset: int, qty: int) -> None:
        price = offset if offset <= 0 else MID + offset
        order = Order(self._new_id(), 1, Side.BID, price, qty if price % TICK == 0 else 1)
        self._check(self.book.submit(order), self.model.submit(order))

    @precondition(lambda self: len(self.model.resting) >= 2 and self.counter % 3 == 0)
    @rule()
    def rebuild_from_snapshot(self) -> None:
        copy = OrderBook()
        copy.restore(self.book.resting_orders(), next_seq=self.book.next_seq)
        self.book = copy

    @precondition(lambda self: len(self.model.resting) >= 8)
    @rule()
    def expire_all(self) -> None:
        self._check(self.book.expire_all(), self.model.expire_all())

    @invariant()
    def same_resting_orders(self) -> None:
        assert self.book.resting_orders() == self.model.snapshot()
        assert self.book.best_bid() == self.model.best(Side.BID)
        assert self.book.best_ask() == self.model.best(Side.ASK)

    @invariant()
    def same_queue_at_every_price_level(self) -> None:
        for r in self.model.resting:
            queue = sorted(
                (o for o in self.model.resting if o.side is r.side and o.price == r.price),
                key=lambda o: o.seq,
            )
            assert [o.order_id for o in self.book.orders_at(r.side, r.price)] == [
                o.order_id for o in queue
            ]

    @invariant()
    def never_crossed(self) -> None:
        bid, ask = self.book.best_bid(), self.book.best_ask()
        assert bid is None or ask is None or bid < ask

    @invariant()
    def quantities_conserved(self) -> None:
        resting = sum(o.remaining for o in self.book.resting_orders())
        # a fill takes its quantity from two orders: the taker and the maker
        assert self.accepted == 2 * self.filled + resting + self.cancelled

    @invariant()
    def depth_matches_resting_orders(self) -> None:
        for side in Side:
            totals: dict[int, int] = {}
            for o in self.book.resting_orders():
                if o.side is side:
                    totals[o.price] = totals.get(o.price, 0) + o.remaining
            expected = sorted(totals.items(), reverse=side is Side.BID)
            assert self.book.depth(side) == expected


BookMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
TestOrderBookAgainstNaiveModel = BookMachine.TestCase
