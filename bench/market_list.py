"""The market list at scale: 5,000 models, 200 sellers, 1,000,000 fills.

    .venv/bin/python bench/market_list.py [--backend sqlite|postgres|both]
        [--models 5000] [--sellers 200] [--fills 1000000] [--runs 200]
        [--pg-url postgresql://postgres@127.0.0.1:5432/postgres] [--seed 7]

Builds a fresh database — a SQLite file in a temporary directory, or a new PostgreSQL
database (created, then dropped) — migrated to head, and bulk-inserts synthetic rows with
SQLAlchemy Core: sellers and buyers, models (one in five Signals) owned round-robin, 20
rounds × 2 modes of instruments per model (the last 5 rounds open), open ask ladders and
bids in most open books, a million fills spread over the books with a skewed popularity
(a few models trade a lot), track-record summaries and stakes, and reviews. Then:

* the worker's ``discovery.refresh`` — once cold (every book aggregated) and once warm
  (closed books are final, so only the open books' fills are read again);
* ``discovery.list_markets`` — one page of 25 plus the total count, exactly what the API
  and the page run — for several filter/sort combinations, and ``discovery.trending``:
  p50 / p95 over ``--runs`` calls each;
* the reference, measured in the same run: the same first page ("classic, File Mode, by
  volume") computed straight from the fills with a GROUP BY — what every request would
  cost without the read model (p50 of 5 runs).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.engine import make_url

from nmrx.accounts.tables import User
from nmrx.market.tables import Fill, Instrument, MarketOrder, NumeraiRound
from nmrx.platform.bootstrap import Container, bootstrap
from nmrx.platform.config import Settings
from nmrx.platform.db import make_engine
from nmrx.platform.migrate import upgrade
from nmrx.reputation import discovery
from nmrx.reputation.tables import ModelPerformance, Review
from nmrx.sellers.tables import NumeraiModel
from nmrx.wallet.money import TICK

ROUNDS, OPEN_ROUNDS, FIRST_ROUND = 20, 5, 1000
BUYERS = 2_000
REVIEWS = 10_000
BATCH = 20_000
T0 = datetime(2025, 1, 7, 13, tzinfo=UTC)
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "omega",
    "quant",
    "lunar",
    "solar",
    "tidal",
    "amber",
    "cobalt",
    "ember",
]


def _batches(engine: Engine, table, rows: list[dict]) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        for start in range(0, len(rows), BATCH):
            conn.execute(insert(table), rows[start : start + BATCH])


def load(engine: Engine, *, models: int, sellers: int, fills: int, seed: int) -> dict[str, int]:
    """Bulk-insert the synthetic market; returns row counts."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    users = [
        {"id": i + 1, "username": f"seller{i:03d}", "password_hash": "x", "created_at": now}
        for i in range(sellers)
    ] + [
        {
            "id": sellers + i + 1,
            "username": f"buyer{i:04d}",
            "password_hash": "x",
            "created_at": now,
        }
        for i in range(BUYERS)
    ]
    _batches(engine, User.__table__, users)
    owners = [i % sellers + 1 for i in range(models)]
    _batches(
        engine,
        NumeraiModel.__table__,
        [
            {
                "id": m + 1,
                "numerai_id": str(uuid.UUID(int=m + 1)),
                "name": f"{WORDS[m % len(WORDS)]}_{WORDS[(m // 7) % len(WORDS)]}_{m:04d}",
                "tournament": "signals" if m % 5 == 0 else "classic",
                "owner_user_id": owners[m],
                "verified_at": now,
                "verified_via": "api_key",
            }
            for m in range(models)
        ],
    )
    _batches(
        engine,
        NumeraiRound.__table__,
        [
            {
                "number": FIRST_ROUND + ROUNDS - OPEN_ROUNDS,
                "open_time": T0 + timedelta(days=ROUNDS - OPEN_ROUNDS),
                "close_time": T0 + timedelta(days=ROUNDS - OPEN_ROUNDS, hours=1),
                "fetched_at": now,
            }
        ],
    )

    def instrument_id(m: int, mode: int, r: int) -> int:
        return 1 + (m * 2 + mode) * ROUNDS + r

    modes = ("file", "stake")
    rows = []
    for m in range(models):
        for mode in range(2):
            for r in range(ROUNDS):
                opens = T0 + timedelta(days=r)
                closed = r < ROUNDS - OPEN_ROUNDS
                rows.append(
                    {
                        "id": instrument_id(m, mode, r),
                        "model_id": m + 1,
                        "tournament": "signals" if m % 5 == 0 else "classic",
                        "round_number": FIRST_ROUND + r,
                        "mode": modes[mode],
                        "round_open_at": opens,
                        "round_close_at": opens + timedelta(hours=1),
                        "trading_closes_at": opens + timedelta(minutes=40),
                        "state": "closed" if closed else "open",
                        "next_seq": 1,
                        "book_seq": 0,
                        "opened_at": opens - timedelta(days=5),
                        "closed_at": opens + timedelta(minutes=40) if closed else None,
                    }
                )
    _batches(engine, Instrument.__table__, rows)

    base = rng.integers(5, 500, size=models) * TICK  # each model's price level, 0.0005–0.05
    base_file = base * 10  # a copy costs more than 1 NMR of allowance
    orders: list[dict] = []

    def order(user: int, instrument: int, side: str, price: int, qty: int, state: str) -> int:
        oid = len(orders) + 1
        orders.append(
            {
                "id": oid,
                "user_id": user,
                "instrument_id": instrument,
                "client_order_id": f"c{oid}",
                "side": side,
                "order_type": "limit",
                "price": int(price),
                "quantity": qty,
                "filled": 0 if state == "open" else qty,
                "remaining": qty if state == "open" else 0,
                "state": state,
                "seq": oid,
                "collateral_per_unit": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
        return oid

    history = {}
    for m in range(models):
        for mode in range(2):
            iid = instrument_id(m, mode, 0)
            history[(m, mode)] = (
                order(sellers + 1, iid, "bid", 1, 1, "filled"),
                order(owners[m], iid, "ask", 1, 1, "filled"),
            )
            level = int(base_file[m] if mode == 0 else base[m])
            for r in range(ROUNDS - OPEN_ROUNDS, ROUNDS):
                iid = instrument_id(m, mode, r)
                if rng.random() < 0.7:
                    for k in range(int(rng.integers(1, 4))):
                        order(owners[m], iid, "ask", level + k * TICK * 5, 3, "open")
                if rng.random() < 0.4:
                    order(
                        sellers + 1 + int(rng.integers(BUYERS)), iid, "bid", level - TICK, 2, "open"
                    )
    _batches(engine, MarketOrder.__table__, orders)

    popularity = 1.0 / np.arange(1, models + 1) ** 0.9
    popularity /= popularity.sum()
    model_of = rng.permutation(models)[rng.choice(models, size=fills, p=popularity)]
    mode_of = rng.integers(0, 2, size=fills)
    round_of = np.sort(rng.integers(0, ROUNDS, size=fills))  # ids grow with time
    minute_of = rng.integers(0, 24 * 60, size=fills)
    qty_file = rng.integers(1, 4, size=fills)
    qty_stake = rng.integers(10, 200, size=fills)
    drift = rng.normal(1.0, 0.1, size=fills).clip(0.5, 1.5)
    rows = []
    for n in range(fills):
        m, mode, r = int(model_of[n]), int(mode_of[n]), int(round_of[n])
        level = base_file[m] if mode == 0 else base[m]
        price = max(TICK, int(level * drift[n]) // TICK * TICK)
        qty = int(qty_file[n] if mode == 0 else qty_stake[n])
        buy, sell = history[(m, mode)]
        at = T0 + timedelta(days=r - 3, minutes=int(minute_of[n]))
        rows.append(
            {
                "id": n + 1,
                "instrument_id": instrument_id(m, mode, r),
                "buy_order_id": buy,
                "sell_order_id": sell,
                "buyer_user_id": sellers + 1 + n % BUYERS,
                "seller_user_id": owners[m],
                "taker_side": "bid",
                "price": price,
                "quantity": qty,
                "notional": price * qty,
                "fee_rate_bp": 200,
                "buyer_collateral": 0,
                "state": "released" if r < ROUNDS - OPEN_ROUNDS else "pending_delivery",
                "created_at": at,
                "updated_at": at,
            }
        )
        if len(rows) == 100_000:
            _batches(engine, Fill.__table__, rows)
            rows = []
    _batches(engine, Fill.__table__, rows)

    _batches(
        engine,
        ModelPerformance.__table__,
        [
            {
                "model_id": m + 1,
                "stake": int(rng.integers(0, 5_000)) * 100_000_000 if rng.random() < 0.8 else None,
                "corr_mean_20": float(rng.normal(0.01, 0.01)) if rng.random() < 0.9 else None,
                "corr_sharpe_20": float(rng.normal(0.5, 0.5)) if rng.random() < 0.9 else None,
                "rounds_scored": 20,
                "synced_at": now,
                "attempted_at": now,
            }
            for m in range(models)
        ],
    )
    reviewed = rng.choice(fills, size=min(REVIEWS, fills), replace=False)
    _batches(
        engine,
        Review.__table__,
        [
            {
                "fill_id": int(f) + 1,
                "model_id": int(model_of[f]) + 1,
                "seller_user_id": owners[int(model_of[f])],
                "buyer_user_id": sellers + 1 + int(f) % BUYERS,
                "rating": int(rng.integers(1, 6)),
                "text": "synthetic",
                "verified": True,
                "created_at": now,
            }
            for f in reviewed
        ],
    )
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        if engine.dialect.name == "postgresql":
            for table in ("users", "numerai_models", "instruments", "orders", "fills"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    return {
        "models": models,
        "sellers": sellers,
        "instruments": models * 2 * ROUNDS,
        "orders": len(orders),
        "fills": fills,
    }


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    return statistics.median(samples), p95


def reference(c: Container) -> list[tuple[int, str, int]]:
    """The "classic, File Mode, by volume" first page straight from the fills."""
    volume = func.sum(Fill.notional).label("volume")
    query = (
        select(Instrument.model_id, Instrument.mode, volume)
        .join(Instrument, Instrument.id == Fill.instrument_id)
        .where(Instrument.tournament == "classic", Instrument.mode == "file")
        .group_by(Instrument.model_id, Instrument.mode)
        .order_by(volume.desc())
        .limit(25)
    )
    with c.db.transaction() as session:
        return [tuple(r) for r in session.execute(query)]  # type: ignore[misc]


SCENARIOS: list[tuple[str, dict[str, object]]] = [
    ("all, by volume (default)", {}),
    (
        "classic + File Mode, by lowest ask",
        {"tournament": "classic", "mode": "file", "sort": "lowest_ask"},
    ),
    ("classic + File Mode, by volume", {"tournament": "classic", "mode": "file", "sort": "volume"}),
    ("has asks now, by Sharpe", {"has_asks": True, "sort": "sharpe"}),
    (
        "ask 0.01–0.1 NMR, by score mean",
        {"min_price": 1_000_000, "max_price": 10_000_000, "sort": "score"},
    ),
    ("search 'quant', by seller rating", {"q": "quant", "sort": "rating"}),
    ("Stake Mode, by stake, page 40", {"mode": "stake", "sort": "stake", "page": 40}),
]


def run(c: Container, runs: int) -> None:
    for label, kwargs in SCENARIOS:
        page = discovery.list_markets(c, **kwargs)  # type: ignore[arg-type]
        p50, p95 = timed(lambda kw=kwargs: discovery.list_markets(c, **kw), runs)  # type: ignore[misc]
        print(f"  list: {label:<38} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  ({page.total} matches)")
    p50, p95 = timed(lambda: discovery.trending(c), runs)
    print(f"  trending (top 20){'':<27} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms")
    ours = discovery.list_markets(c, tournament="classic", mode="file", sort="volume")
    ref_rows = reference(c)
    assert [(i.model_id, i.notional) for i in ours.items] == [(m, v) for m, _, v in ref_rows]
    ref50, _ = timed(lambda: reference(c), 5)
    ours50, _ = timed(
        lambda: discovery.list_markets(c, tournament="classic", mode="file", sort="volume"), runs
    )
    print(
        f"  reference: that page from the fills (GROUP BY) p50 {ref50:8.1f} ms "
        f"— the read model is {ref50 / ours50:,.0f}× faster"
    )


def bench(url: str, args: argparse.Namespace, data_dir: Path) -> None:
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    counts = load(
        engine, models=args.models, sellers=args.sellers, fills=args.fills, seed=args.seed
    )
    engine.dispose()
    print(f"  loaded {counts} in {time.perf_counter() - started:.0f} s")
    c = bootstrap(Settings(demo=True, database_url=url, data_dir=data_dir), migrate=False)
    try:
        cold = discovery.refresh(c)
        warm = discovery.refresh(c)
        print(f"  refresh, cold: {cold}")
        print(f"  refresh, warm: {warm}")
        with c.db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        run(c, args.runs)
    finally:
        c.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--models", type=int, default=5_000)
    parser.add_argument("--sellers", type=int, default=200)
    parser.add_argument("--fills", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(
        f"market list: {args.models:,} models, {args.sellers} sellers, {args.fills:,} fills, "
        f"{args.runs} runs per query"
    )
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend in ("sqlite", "both"):
            print("SQLite")
            bench(f"sqlite:///{tmp}/bench.sqlite3", args, Path(tmp) / "data")
        if args.backend in ("postgres", "both"):
            print("PostgreSQL")
            name = f"nmrx_bench_{uuid.uuid4().hex[:8]}"
            admin = make_engine(args.pg_url).execution_options(isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = make_url(make_engine(args.pg_url).url).set(database=name)
            try:
                bench(url.render_as_string(hide_password=False), args, Path(tmp) / "pgdata")
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
