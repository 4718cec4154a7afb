"""Orders and the events the matching engine emits.

Plain value types shared by :mod:`nmrx.market.orderbook` and its callers (services,
market data, tests). Prices are integers of 10⁻⁸ NMR on the 0.0001 NMR tick
(:data:`nmrx.wallet.money.TICK`); quantities are whole copies (File Mode) or whole
NMR of stake allowance (Stake Mode).

Events are returned, in order, by every call that changes a book:

* :class:`Accepted` — the order passed validation and got its time-priority ``seq``;
* :class:`Rejected` — the order (or request) was refused; nothing changed;
* :class:`Filled` (alias :data:`Fill`) — one trade between the incoming (taker) order
  and one resting (maker) order, at the maker's price;
* :class:`Cancelled` — an order's remaining quantity left the book or was never
  placed (``reason``: user, ioc, fok, self_trade, expired);
* :class:`Expired` — a :class:`Cancelled` with reason ``expired``, emitted by
  ``OrderBook.expire_all()`` when the book closes.

What happened to an incoming order can be read from its events: a ``Filled`` with
``taker_remaining == 0`` or a ``Cancelled`` ends it; otherwise it rests with the
last reported remaining quantity (its full quantity if nothing filled).

Events are slotted dataclasses built on the matching hot path; treat them as
immutable (they are not ``frozen`` only because frozen dataclasses are ~4× slower to
construct, which the engine benchmark measures).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Side(StrEnum):
    BID = "bid"  # buy
    ASK = "ask"  # sell

    @property
    def opposite(self) -> Side:
        return Side.ASK if self is Side.BID else Side.BID


class OrderType(StrEnum):
    LIMIT = "limit"  # good till cancelled (or until the book closes)
    IOC = "ioc"  # immediate or cancel: fill what crosses now, cancel the rest
    FOK = "fok"  # fill or kill: fill the whole quantity now or do nothing
    POST_ONLY = "post_only"  # rest without taking liquidity, or be rejected


class CancelReason(StrEnum):
    USER = "user"  # explicit cancel request
    IOC = "ioc"  # unfilled remainder of an IOC order
    FOK = "fok"  # a FOK order that could not fill completely
    SELF_TRADE = "self_trade"  # remainder that would have traded with the owner's own order
    EXPIRED = "expired"  # the book closed
    SUSPENDED = "suspended"  # an operator suspended the owner's account
    COLLATERAL = "collateral"  # a penalty left the seller's collateral short of the ask


class RejectReason(StrEnum):
    INVALID_PRICE = "invalid_price"  # not a positive multiple of the tick
    INVALID_QUANTITY = "invalid_quantity"  # not a positive whole number
    DUPLICATE_ORDER_ID = "duplicate_order_id"  # an order with this id is resting
    POST_ONLY_WOULD_TAKE = "post_only_would_take"  # a post-only order crossing the book
    NO_LIQUIDITY = "no_liquidity"  # Buy Now / Sell Now on an empty opposite side


@dataclass(frozen=True, slots=True)
class Order:
    """An incoming order as the service submits it to a book."""

    order_id: str
    owner: int
    side: Side
    price: int
    quantity: int
    order_type: OrderType = OrderType.LIMIT

    def __post_init__(self) -> None:
        _coerce_enum(self, "side", Side)
        _coerce_enum(self, "order_type", OrderType)


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """A snapshot of an order resting in a book (also the input of ``OrderBook.restore``).

    ``seq`` is the book's time priority: lower is earlier. ``quantity`` is the
    original quantity, ``remaining`` what is still open.
    """

    order_id: str
    owner: int
    side: Side
    price: int
    quantity: int
    remaining: int
    seq: int

    def __post_init__(self) -> None:
        _coerce_enum(self, "side", Side)


def _coerce_enum(obj: object, field: str, enum: type[StrEnum]) -> None:
    """Turn ``"bid"`` (e.g. read from a database) into ``Side.BID``; refuse unknown values.

    The engine compares enum members by identity, so a plain string must never get in.
    """
    value = getattr(obj, field)
    if type(value) is not enum:
        object.__setattr__(obj, field, enum(value))


@dataclass(slots=True)
class Accepted:
    order_id: str
    owner: int
    side: Side
    price: int
    quantity: int
    order_type: OrderType
    seq: int


@dataclass(slots=True)
class Rejected:
    order_id: str
    reason: RejectReason


@dataclass(slots=True)
class Filled:
    """One trade: ``quantity`` units at the resting (maker) order's ``price``.

    ``taker_remaining`` / ``maker_remaining`` are the orders' open quantities after
    this fill (``maker_remaining == 0``: the maker left the book).
    """

    taker_order_id: str
    maker_order_id: str
    taker_side: Side
    buyer: int
    seller: int
    price: int
    quantity: int
    taker_remaining: int
    maker_remaining: int

    @property
    def notional(self) -> int:
        """Units of NMR changing hands: ``price × quantity``."""
        return self.price * self.quantity

    @property
    def buy_order_id(self) -> str:
        return self.taker_order_id if self.taker_side is Side.BID else self.maker_order_id

    @property
    def sell_order_id(self) -> str:
        return self.maker_order_id if self.taker_side is Side.BID else self.taker_order_id


Fill = Filled


@dataclass(slots=True)
class Cancelled:
    """``remaining`` units of ``order_id`` will never trade (the hold on them can be voided)."""

    order_id: str
    owner: int
    side: Side
    price: int
    remaining: int
    reason: CancelReason


@dataclass(slots=True)
class Expired(Cancelled):
    """A resting order removed because the book closed (``OrderBook.expire_all``)."""

    reason: CancelReason = CancelReason.EXPIRED


Event = Accepted | Rejected | Filled | Cancelled
