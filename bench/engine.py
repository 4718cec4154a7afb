"""Matching-engine throughput: NMRX's OrderBook against a minimal reference book.

    .venv/bin/python bench/engine.py [--orders 200000] [--seed 7] [--repeat 3]

Both books process the same random stream of operations near a mid price (limit GTC
orders, IOC orders and cancels of earlier limit orders). The reference is the
textbook minimal book: a ``SortedDict`` of price → ``deque`` FIFO queue per side, an
id index for cancels, trades returned as tuples; no validation, no events, no
self-trade prevention, no owner index. Every order has its own owner so self-trade
prevention never triggers and both books must produce the same trades (checked).

Prints orders/s for each book (best of ``--repeat`` runs) and the ratio.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections import deque
from dataclasses import dataclass

from sortedcontainers import SortedDict

from nmrx.market.orderbook import OrderBook
from nmrx.market.orders import Filled, Order, OrderType, Side
from nmrx.wallet.money import TICK

MID_TICKS = 10_000  # 1.0000 NMR


@dataclass(frozen=True, slots=True)
class Op:
    kind: str  # "limit" | "ioc" | "cancel"
    order_id: str
    owner: int = 0
    is_bid: bool = False
    price: int = 0
    quantity: int = 0


def make_stream(n: int, seed: int) -> list[Op]:
    """60 % limit, 15 % IOC, 25 % cancel of a random earlier limit order (once each)."""
    rng = random.Random(seed)
    ops: list[Op] = []
    cancellable: list[str] = []
    for i in range(n):
        r = rng.random()
        if r < 0.25 and cancellable:
            j = rng.randrange(len(cancellable))
            cancellable[j], cancellable[-1] = cancellable[-1], cancellable[j]
            ops.append(Op("cancel", cancellable.pop()))
            continue
        is_bid = rng.random() < 0.5
        offset = round(rng.gauss(-3.0 if is_bid else 3.0, 8.0))
        price = (MID_TICKS + offset) * TICK
        order_id = f"o{i}"
        kind = "ioc" if r > 0.80 else "limit"
        ops.append(Op(kind, order_id, i, is_bid, price, rng.randint(1, 20)))
        if kind == "limit":
            cancellable.append(order_id)
    return ops


class ReferenceBook:
    """The minimal reference: SortedDict price → deque of [order_id, owner, qty]."""

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.index: dict[str, tuple[bool, int, list]] = {}

    def place(
        self, order_id: str, owner: int, is_bid: bool, price: int, qty: int, ioc: bool
    ) -> list[tuple[str, str, int, int]]:
        trades: list[tuple[str, str, int, int]] = []
        book = self.asks if is_bid else self.bids
        while qty and book:
            best, queue = book.peekitem(0 if is_bid else -1)
            if (best > price) if is_bid else (best < price):
                break
            while qty and queue:
                maker = queue[0]
                traded = min(qty, maker[2])
                qty -= traded
                maker[2] -= traded
                trades.append((order_id, maker[0], best, traded))
                if not maker[2]:
                    queue.popleft()
                    del self.index[maker[0]]
            if not queue:
                del book[best]
        if qty and not ioc:
            own = self.bids if is_bid else self.asks
            entry = [order_id, owner, qty]
            queue = own.get(price)
            if queue is None:
                queue = own[price] = deque()
            queue.append(entry)
            self.index[order_id] = (is_bid, price, entry)
        return trades

    def cancel(self, order_id: str) -> bool:
        found = self.index.pop(order_id, None)
        if found is None:
            return False
        is_bid, price, entry = found
        book = self.bids if is_bid else self.asks
        queue = book[price]
        queue.remove(entry)
        if not queue:
            del book[price]
        return True


def run_reference(ops: list[Op]) -> tuple[float, list[tuple[str, str, int, int]]]:
    book = ReferenceBook()
    trades: list[tuple[str, str, int, int]] = []
    start = time.perf_counter()
    for op in ops:
        if op.kind == "cancel":
            book.cancel(op.order_id)
        else:
            trades += book.place(
                op.order_id, op.owner, op.is_bid, op.price, op.quantity, op.kind == "ioc"
            )
    return time.perf_counter() - start, trades


def run_engine(ops: list[Op]) -> tuple[float, list[tuple[str, str, int, int]]]:
    # Orders are built before the clock starts, as the reference's inputs are.
    inputs: list[Order | str] = [
        op.order_id
        if op.kind == "cancel"
        else Order(
            op.order_id,
            op.owner,
            Side.BID if op.is_bid else Side.ASK,
            op.price,
            op.quantity,
            OrderType.IOC if op.kind == "ioc" else OrderType.LIMIT,
        )
        for op in ops
    ]
    book = OrderBook()
    events = []
    start = time.perf_counter()
    for item in inputs:
        if type(item) is str:
            events += book.cancel(item)
        else:
            events += book.submit(item)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    trades = [
        (e.taker_order_id, e.maker_order_id, e.price, e.quantity)
        for e in events
        if isinstance(e, Filled)
    ]
    return elapsed, trades


def interleaved(repeat: int, ops: list[Op]) -> tuple[float, float, list, list]:
    """Best time of each book over ``repeat`` rounds, alternating them to share noise."""
    ref_best = eng_best = float("inf")
    ref_trades: list = []
    eng_trades: list = []
    for _ in range(repeat):
        gc.collect()
        elapsed, ref_trades = run_reference(ops)
        ref_best = min(ref_best, elapsed)
        gc.collect()
        elapsed, eng_trades = run_engine(ops)
        eng_best = min(eng_best, elapsed)
    return ref_best, eng_best, ref_trades, eng_trades


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    ops = make_stream(args.orders, args.seed)
    counts = {kind: sum(op.kind == kind for op in ops) for kind in ("limit", "ioc", "cancel")}
    ref_time, eng_time, ref_trades, eng_trades = interleaved(args.repeat, ops)
    if ref_trades != eng_trades:
        raise SystemExit("engine and reference disagree on the trades of the same stream")

    n = len(ops)
    ref_rate, eng_rate = n / ref_time, n / eng_time
    print(f"stream: {n:,} operations {counts}, {len(eng_trades):,} trades (identical in both)")
    print(f"reference (SortedDict + deque): {ref_rate:12,.0f} orders/s  ({ref_time:.3f} s)")
    print(f"nmrx OrderBook                : {eng_rate:12,.0f} orders/s  ({eng_time:.3f} s)")
    print(f"ratio engine / reference      : {eng_rate / ref_rate:.2f}x")


if __name__ == "__main__":
    main()
