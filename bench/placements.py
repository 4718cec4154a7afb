"""Durable order placements per second through the service layer, on SQLite.

    .venv/bin/python bench/placements.py [--orders 5000] [--seed 7]

A seller and 20 buyers trade on 4 books (limit orders around a mid price, about a
third of them crossing). Each placement is one committed transaction through
``orders.place_order``: lock the instrument, load the cached book, check the rules,
write the order, hold the bid's money, match, write fills and move their money.

The reference replays *the same rows* with raw ``sqlite3`` into a copy of the database
taken before the run (same schema, indexes, WAL and ``synchronous=NORMAL``): for each
placement one transaction that inserts its order, hold, transfers and fills and
applies its updates (account totals, maker orders, holds, instrument counters). So the
ratio is what the service layer (rules, ORM, matching, checks) costs on top of the
bare writes.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from nmrx.accounts import service as accounts
from nmrx.market import data as market_data
from nmrx.market import instruments
from nmrx.market import service as orders
from nmrx.platform.bootstrap import bootstrap
from nmrx.platform.clock import utcnow
from nmrx.platform.config import Settings
from nmrx.sellers import collateral
from nmrx.sellers.tables import NumeraiModel
from nmrx.wallet import service as wallet
from nmrx.wallet.money import TICK, nmr

NOW = datetime(2025, 11, 26, 9, 0, tzinfo=UTC)
ANCHOR = (900, datetime(2025, 1, 7, 13, tzinfo=UTC), datetime(2025, 1, 7, 14, tzinfo=UTC))
BUYERS = 20
BOOKS = 4


def settings(path: Path) -> Settings:
    return Settings(demo=True, database_url=f"sqlite:///{path}", data_dir=path.parent / "data")


def setup(path: Path) -> tuple[int, list[int], list[int]]:
    c = bootstrap(settings(path))
    seller = accounts.register(c.db, username="seller", password="correct-horse-battery").user_id
    buyers = [
        accounts.register(c.db, username=f"buyer{i}", password="correct-horse-battery").user_id
        for i in range(BUYERS)
    ]
    for user in [seller, *buyers]:
        wallet.faucet(c.db, user_id=user, amount=nmr(1_000_000), max_amount=nmr(1_000_000))
    collateral.lock(c, user_id=seller, amount=nmr(500_000))
    with c.db.transaction() as s:
        for i in range(2):
            s.add(
                NumeraiModel(
                    numerai_id=str(uuid.uuid4()),
                    name=f"model{i}",
                    tournament="classic",
                    owner_user_id=seller,
                    verified_at=utcnow(),
                    verified_via="api_key",
                )
            )
    number, opens, closes = ANCHOR
    instruments.record_round(c, number=number, open_time=opens, close_time=closes)
    instruments.open_books(c, now=NOW)
    books = [i.id for i in market_data.list_instruments(c, mode="file")]
    books = sorted(books, key=lambda i: i)[:BOOKS]
    c.close()
    return seller, buyers, books


def stream(n: int, seed: int, seller: int, buyers: list[int], books: list[int]) -> list[dict]:
    rng = random.Random(seed)
    ops = []
    for i in range(n):
        ask = rng.random() < 0.4
        price = nmr(1) + rng.randint(-10, 10) * 100 * TICK + (300 if ask else -300) * TICK
        ops.append(
            dict(
                user_id=seller if ask else rng.choice(buyers),
                instrument_id=rng.choice(books),
                side="ask" if ask else "bid",
                quantity=rng.randint(1, 5),
                price=price,
                client_order_id=f"o{i}",
                now=NOW,
            )
        )
    return ops


def run_service(path: Path, ops: list[dict]) -> float:
    c = bootstrap(settings(path), migrate=False)
    try:
        started = time.perf_counter()
        for op in ops:
            orders.place_order(c, **op)
        return time.perf_counter() - started
    finally:
        c.close()


def placement_writes(path: Path) -> list[list[tuple[str, tuple]]]:
    """The rows each placement wrote, as SQL statements to replay (one list per order)."""
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    per_order: dict[int, list[tuple[str, tuple]]] = defaultdict(list)

    def insert(table: str, row: sqlite3.Row) -> tuple[str, tuple]:
        cols = row.keys()
        return (
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            tuple(row),
        )

    for row in con.execute("SELECT * FROM orders ORDER BY id"):
        per_order[row["id"]].append(insert("orders", row))
        per_order[row["id"]].append(
            (
                "UPDATE instruments SET next_seq = next_seq + 1, book_seq = book_seq + 1 WHERE id = ?",
                (row["instrument_id"],),
            )
        )
    for row in con.execute("SELECT * FROM ledger_holds"):
        order_id = int(row["id"].split(":")[1])
        per_order[order_id].append(insert("ledger_holds", row))
    for row in con.execute("SELECT * FROM fills ORDER BY id"):
        taker = max(row["buy_order_id"], row["sell_order_id"])
        maker = min(row["buy_order_id"], row["sell_order_id"])
        per_order[taker].append(insert("fills", row))
        per_order[taker].append(
            ("UPDATE orders SET filled = filled, remaining = remaining WHERE id = ?", (maker,))
        )
    for row in con.execute(
        "SELECT * FROM ledger_transfers WHERE hold_id LIKE 'order:%' ORDER BY seq"
    ):
        owner = int(row["hold_id"].split(":")[1])
        if row["id"].startswith("fill:"):
            _, buy, sell, _ = row["id"].split(":")
            owner = max(int(buy), int(sell))
        per_order[owner].append(insert("ledger_transfers", row))
        per_order[owner].append(
            (
                "UPDATE ledger_accounts SET debits = debits + ? WHERE id = ?",
                (row["amount"], row["debit_account_id"]),
            )
        )
        per_order[owner].append(
            (
                "UPDATE ledger_accounts SET credits = credits + ? WHERE id = ?",
                (row["amount"], row["credit_account_id"]),
            )
        )
        if row["id"].startswith("fill:"):
            per_order[owner].append(
                ("UPDATE ledger_holds SET remaining = remaining WHERE id = ?", (row["hold_id"],))
            )
    con.close()
    return [per_order[k] for k in sorted(per_order)]


def run_raw(path: Path, writes: list[list[tuple[str, tuple]]]) -> float:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=OFF")  # replayed rows may reference later holds
    started = time.perf_counter()
    for statements in writes:
        con.execute("BEGIN IMMEDIATE")
        for sql, params in statements:
            con.execute(sql, params)
        con.execute("COMMIT")
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nmrx-bench-"))
    try:
        service_db, raw_db = work / "service.sqlite3", work / "raw.sqlite3"
        seller, buyers, books = setup(service_db)
        shutil.copy(service_db, raw_db)
        ops = stream(args.orders, args.seed, seller, buyers, books)
        service_s = run_service(service_db, ops)
        writes = placement_writes(service_db)
        raw_s = run_raw(raw_db, writes)
        con = sqlite3.connect(service_db)
        fills, resting = (
            con.execute("SELECT count(*) FROM fills").fetchone()[0],
            con.execute("SELECT count(*) FROM orders WHERE state = 'open'").fetchone()[0],
        )
        con.close()
        rows = sum(len(w) for w in writes)
        service_rate, raw_rate = args.orders / service_s, len(writes) / raw_s
        print(
            f"{args.orders} placements on {BOOKS} books: {fills} fills, {resting} orders left resting"
        )
        print(
            f"statements replayed by the reference: {rows} ({rows / len(writes):.1f} per placement)"
        )
        print(f"service layer (SQLite, one transaction each): {service_rate:9,.0f} placements/s")
        print(f"raw sqlite3, same rows, one transaction each: {raw_rate:9,.0f} placements/s")
        print(f"ratio service / raw: {service_rate / raw_rate:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
