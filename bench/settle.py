"""Settlement throughput: ``settlement.reconcile`` over synthetic fills, on SQLite and PostgreSQL.

    .venv/bin/python bench/settle.py [--fills 100000] [--backend sqlite|postgres|both]
        [--database-url postgresql://postgres@127.0.0.1:5432/test] [--limit 1000] [--seed 7]

Set-up (not measured, its duration is printed): a fresh database (SQLite in a temp dir; on
PostgreSQL a new database ``nmrx_bench_<random>`` next to ``--database-url``, dropped at
the end), migrated by ``bootstrap``. Users, models, instruments, orders, fills, uploads,
deliveries and the ledger are inserted in bulk with SQLAlchemy Core as the market would
have left them at the end of a round: every fill's notional in escrow (``fill_escrow``),
Stake Mode buyer collateral in the buyer's collateral account (``stake_collateral``),
sellers' collateral locked (10 NMR + 20 % of their sales, so penalties are never capped),
account totals equal to their transfers. ``ledger.check`` is run before and after and its
result printed; it must be empty both times.

The outcomes are those decidable without Numerai scores (the platform clock is a
``FixedClock`` one day after the rounds closed, so Numerai is never called):

* 40 % File Mode, uploaded, download delivered → released at delivery (proceeds + fee)
* 20 % File Mode, nothing uploaded → refunded with the 10 % non-delivery penalty
* 15 % Stake Mode, nothing uploaded → refunded + penalty + buyer collateral returned
* 15 % Stake Mode, automatic submission failed through the buyer's fault → released,
  buyer collateral returned
* 10 % Stake Mode, submission failed through nobody's fault → refunded, no penalty

Measured: ``settlement.reconcile(c, limit=--limit)`` called until no fill is unsettled
(single process, each move its own transaction, as the worker does). Prints fills/s per
backend, the number of passes, and checks every fill is final with one history row and
the ``settle:*`` transfers one settlement of each fill gives.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import make_url

from nmrx.accounts.tables import User
from nmrx.delivery.tables import Delivery, PredictionUpload
from nmrx.market.tables import Fill, Instrument, MarketOrder
from nmrx.platform.bootstrap import Container, bootstrap
from nmrx.platform.clock import FixedClock
from nmrx.platform.config import Settings
from nmrx.platform.db import make_engine
from nmrx.sellers.tables import NumeraiModel
from nmrx.settlement import service as settlement
from nmrx.settlement.tables import FillEvent
from nmrx.wallet import ledger
from nmrx.wallet.money import UNITS_PER_NMR
from nmrx.wallet.rules import USER_KINDS, AccountKind, platform_account_key
from nmrx.wallet.tables import LedgerAccount, LedgerTransfer

ROUND = 1000
CLOSE = datetime(2025, 6, 2, 14, 0, tzinfo=UTC)
OUTCOMES = [  # name, share %, mode, seller uploaded, submission fault, final state, settle legs
    ("file_delivered", 40, "file", True, None, "released", 2),  # proceeds, fee
    ("file_not_uploaded", 20, "file", False, None, "refunded", 2),  # refund, penalty
    ("stake_not_uploaded", 15, "stake", False, None, "refunded", 3),  # + buyer collateral
    ("stake_buyer_fault", 15, "stake", True, "buyer", "released", 3),
    ("stake_nobody_fault", 10, "stake", True, "nobody", "refunded", 2),  # no penalty
]
FILLS_PER_SELLER = 1000
BUYERS_PER_SELLER = 20
CHUNK = 5000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Builder:
    """Rows for Core bulk inserts, with explicit ids, and the ledger postings they imply."""

    def __init__(self, c: Container, fills: int, seed: int) -> None:
        self.c, self.rng = c, random.Random(seed)
        self.rows: dict[str, list[dict[str, object]]] = {}
        self.transfers: list[dict[str, object]] = []
        self.totals: Counter[tuple[str, str]] = Counter()  # (account key, debits|credits)
        self.expected: Counter[str] = Counter()
        self.legs = 0  # settle:* transfers one settlement of every fill posts
        self.n = fills
        with c.db.transaction() as s:
            self.platform = dict(
                s.execute(
                    select(LedgerAccount.key, LedgerAccount.id).where(
                        LedgerAccount.user_id.is_(None)
                    )
                ).all()
            )
            self.next_account = (s.scalar(select(func.max(LedgerAccount.id))) or 0) + 1
        self.account_id: dict[str, int] = dict(self.platform)
        self.ids = Counter[str]()

    def add(self, table: str, **row: object) -> int:
        self.ids[table] += 1
        row.setdefault("id", self.ids[table])
        self.rows.setdefault(table, []).append(row)
        return int(row["id"])  # type: ignore[call-overload]

    def user(self, name: str) -> int:
        uid = self.add("users", username=name, password_hash="bench: no login")
        for kind in USER_KINDS:
            key = f"user:{uid}:{kind.value}"
            self.account_id[key] = self.next_account
            self.add(
                "ledger_accounts",
                id=self.next_account,
                key=key,
                kind=kind.value,
                user_id=uid,
                may_go_negative=False,
            )
            self.next_account += 1
        return uid

    def post(self, tid: str, debit: str, credit: str, amount: int, code: str) -> None:
        self.transfers.append(
            dict(
                id=tid,
                debit_account_id=self.account_id[debit],
                credit_account_id=self.account_id[credit],
                amount=amount,
                code=code,
                memo="bench set-up",
            )
        )
        self.totals[debit, "debits"] += amount
        self.totals[credit, "credits"] += amount

    def build(self) -> None:
        world, escrow = (
            platform_account_key(AccountKind.WORLD),
            platform_account_key(AccountKind.ESCROW),
        )
        per_unit = UNITS_PER_NMR * self.c.settings.stake_collateral_rate_bp // 10_000
        weights = [share for _, share, *_ in OUTCOMES]
        counts = [self.n * w // sum(weights) for w in weights]
        counts[0] += self.n - sum(counts)
        seller_no = 0
        for (name, _, mode, uploaded, fault, final, legs), count in zip(
            OUTCOMES, counts, strict=True
        ):
            self.expected[final] += count
            self.legs += count * legs
            left = count
            while left:
                here = min(FILLS_PER_SELLER, left)
                left -= here
                seller_no += 1
                seller = self.user(f"seller{seller_no}")
                model = self.add(
                    "numerai_models",
                    numerai_id=f"bench-model-{seller_no}",
                    name=f"bench_model_{seller_no}",
                    tournament="classic",
                    owner_user_id=seller,
                    verified_at=CLOSE - timedelta(days=30),
                    verified_via="api_key",
                )
                inst = self.add(
                    "instruments",
                    model_id=model,
                    tournament="classic",
                    round_number=ROUND,
                    mode=mode,
                    round_open_at=CLOSE - timedelta(hours=1),
                    round_close_at=CLOSE,
                    trading_closes_at=CLOSE - timedelta(minutes=20),
                    state="closed",
                    next_seq=here + 2,
                    book_seq=here + 1,
                    closed_at=CLOSE - timedelta(minutes=20),
                )
                upload = None
                if uploaded:
                    upload = self.add(
                        "prediction_uploads",
                        model_id=model,
                        tournament="classic",
                        round_number=ROUND,
                        uploader_user_id=seller,
                        storage_key=uuid.uuid4().hex,
                        sha256="0" * 64,
                        filename="p.csv",
                        format="csv",
                        rows=5000,
                        size_bytes=100_000,
                        current=True,
                    )
                buyers = []
                for b in range(BUYERS_PER_SELLER):
                    uid = self.user(f"buyer{seller_no}_{b}")
                    slot = self.add(
                        "numerai_models",
                        numerai_id=f"bench-slot-{uid}",
                        name=f"bench_slot_{uid}",
                        tournament="classic",
                        owner_user_id=uid,
                        verified_at=CLOSE - timedelta(days=30),
                        verified_via="api_key",
                    )
                    buyers.append((uid, slot))
                specs = []
                for _ in range(here):
                    if mode == "file":
                        qty, price, collateral = (
                            self.rng.randint(1, 3),
                            self.rng.randint(10, 100) * UNITS_PER_NMR // 100,
                            0,
                        )
                    else:
                        qty, price = 10, self.rng.randint(2, 10) * UNITS_PER_NMR // 100
                        collateral = qty * per_unit
                    specs.append((self.rng.choice(buyers), qty, price, collateral))
                sold = sum(q for _, q, _, _ in specs)
                ask = self.add(
                    "orders",
                    user_id=seller,
                    instrument_id=inst,
                    client_order_id="ask",
                    side="ask",
                    order_type="limit",
                    price=min(p for _, _, p, _ in specs),
                    quantity=sold,
                    filled=sold,
                    remaining=0,
                    state="filled",
                    seq=1,
                    collateral_per_unit=0,
                )
                notional_sold = sum(q * p for _, q, p, _ in specs)
                funds_to = Counter[int]()
                for seq, ((buyer, slot), qty, price, collateral) in enumerate(specs, start=2):
                    bid = self.add(
                        "orders",
                        user_id=buyer,
                        instrument_id=inst,
                        client_order_id=f"bid{seq}",
                        side="bid",
                        order_type="limit",
                        price=price,
                        quantity=qty,
                        filled=qty,
                        remaining=0,
                        state="filled",
                        seq=seq,
                        collateral_per_unit=collateral // qty,
                        slot_model_id=slot if mode == "stake" else None,
                    )
                    fill = self.add(
                        "fills",
                        instrument_id=inst,
                        buy_order_id=bid,
                        sell_order_id=ask,
                        buyer_user_id=buyer,
                        seller_user_id=seller,
                        taker_side="bid",
                        price=price,
                        quantity=qty,
                        notional=qty * price,
                        fee_rate_bp=self.c.settings.platform_fee_rate_bp,
                        buyer_collateral=collateral,
                        slot_model_id=slot if mode == "stake" else None,
                        state="pending_delivery",
                    )
                    funds_to[buyer] += qty * price + collateral
                    self.post(
                        f"fill:{bid}:{ask}:escrow",
                        f"user:{buyer}:available",
                        escrow,
                        qty * price,
                        "fill_escrow",
                    )
                    if collateral:
                        self.post(
                            f"fill:{bid}:{ask}:collateral",
                            f"user:{buyer}:available",
                            f"user:{buyer}:collateral",
                            collateral,
                            "stake_collateral",
                        )
                    if upload is not None and mode == "file":
                        self.add(
                            "deliveries",
                            fill_id=fill,
                            kind="download",
                            state="delivered",
                            upload_id=upload,
                            attempts=0,
                            delivered_at=CLOSE - timedelta(minutes=30),
                        )
                    if upload is not None and mode == "stake":
                        self.add(
                            "deliveries",
                            fill_id=fill,
                            kind="submission",
                            state="failed",
                            upload_id=upload,
                            nonce=uuid.uuid4().hex,
                            attempts=1,
                            fault=fault,
                            last_error="bench: synthetic failure",
                        )
                for buyer, amount in funds_to.items():  # the faucet, then what they spent
                    self.post(
                        f"faucet:{buyer}:bench",
                        world,
                        f"user:{buyer}:available",
                        amount + UNITS_PER_NMR,
                        "faucet",
                    )
                lock = 10 * UNITS_PER_NMR + notional_sold // 5
                self.post(
                    f"faucet:{seller}:bench", world, f"user:{seller}:available", lock, "faucet"
                )
                self.post(
                    f"collateral:{seller}:bench",
                    f"user:{seller}:available",
                    f"user:{seller}:collateral",
                    lock,
                    "collateral_lock",
                )
                log(f"  {name}: seller {seller_no}, {here} fills")

    def insert(self) -> None:
        for row in self.rows["ledger_accounts"]:
            row["debits"] = self.totals[row["key"], "debits"]
            row["credits"] = self.totals[row["key"], "credits"]
        tables = {
            "users": User,
            "ledger_accounts": LedgerAccount,
            "numerai_models": NumeraiModel,
            "instruments": Instrument,
            "prediction_uploads": PredictionUpload,
            "orders": MarketOrder,
            "fills": Fill,
            "deliveries": Delivery,
        }
        with self.c.db.engine.begin() as conn:
            for name, model in tables.items():
                rows = self.rows.get(name, [])
                columns = {k for row in rows for k in row}  # executemany: one shape per table
                rows = [{k: row.get(k) for k in columns} for row in rows]
                for i in range(0, len(rows), CHUNK):
                    conn.execute(insert(model), rows[i : i + CHUNK])
            for i in range(0, len(self.transfers), CHUNK):
                conn.execute(insert(LedgerTransfer), self.transfers[i : i + CHUNK])
            for key, pid in self.platform.items():
                conn.execute(
                    update(LedgerAccount)
                    .where(LedgerAccount.id == pid)
                    .values(
                        debits=LedgerAccount.debits + self.totals[key, "debits"],
                        credits=LedgerAccount.credits + self.totals[key, "credits"],
                    )
                )
            if conn.dialect.name == "postgresql":  # explicit ids: move the sequences past them
                for name in tables:
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                            f"(SELECT COALESCE(MAX(id), 1) FROM {name}))"
                        )
                    )


def run(url: str, fills: int, limit: int, seed: int, data_dir: Path) -> dict[str, object]:
    c = bootstrap(Settings(demo=True, database_url=url, data_dir=data_dir))
    c.clock = FixedClock(CLOSE + timedelta(days=1))  # after every deadline; Numerai never asked
    try:
        started = time.perf_counter()
        b = Builder(c, fills, seed)
        b.build()
        b.insert()
        set_up = time.perf_counter() - started
        t = time.perf_counter()
        before = ledger.check(c.db)
        check_before = time.perf_counter() - t
        log(
            f"  set-up {set_up:.1f} s; ledger check before: {before or 'sound'} ({check_before:.1f} s)"
        )
        passes = 0
        started = time.perf_counter()
        while True:
            reached = settlement.reconcile(c, limit=limit)
            if not reached.get("released") and not reached.get("refunded"):
                break  # nothing left, or nothing that moves (reported below)
            passes += 1
            if passes % 10 == 0:
                done = time.perf_counter() - started
                log(f"  pass {passes}: {passes * limit / done:,.0f} fills/s so far")
        elapsed = time.perf_counter() - started
        after = ledger.check(c.db)
        with c.db.transaction() as s:
            states = Counter(
                dict(s.execute(select(Fill.state, func.count()).group_by(Fill.state)).all())
            )
            events = s.scalar(select(func.count()).select_from(FillEvent))
            settle_transfers = s.scalar(
                select(func.count())
                .select_from(LedgerTransfer)
                .where(LedgerTransfer.id.like("settle:%"))
            )
        return dict(
            fills=fills,
            seconds=elapsed,
            rate=fills / elapsed,
            passes=passes,
            set_up=set_up,
            before=before,
            after=after,
            states=dict(states),
            expected=dict(b.expected),
            events=events,
            settle_transfers=settle_transfers,
            legs=b.legs,
        )
    finally:
        c.close()


def fresh_postgres(base: str) -> tuple[str, str]:
    name = f"nmrx_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(make_engine(base).url).set(database=name).render_as_string(hide_password=False)
    return name, url


def drop_postgres(base: str, name: str) -> None:
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL server to create the benchmark's own database on",
    )
    parser.add_argument("--limit", type=int, default=1000, help="fills per reconcile pass")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            log(f"{backend}: {args.fills:,} fills")
            if backend == "sqlite":
                url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
                results[backend] = run(url, args.fills, args.limit, args.seed, Path(tmp))
            else:
                name, url = fresh_postgres(args.database_url)
                try:
                    results[backend] = run(url, args.fills, args.limit, args.seed, Path(tmp))
                finally:
                    drop_postgres(args.database_url, name)
    ok = True
    print(f"settle {args.fills:,} synthetic fills (mixed outcomes), reconcile limit {args.limit}")
    for backend, r in results.items():
        sound = not r["before"] and not r["after"]
        exact = (
            r["states"] == r["expected"]
            and r["events"] == r["fills"]
            and r["settle_transfers"] == r["legs"]
        )
        ok &= sound and exact
        print(
            f"  {backend:8} {r['rate']:8,.0f} fills/s  ({r['seconds']:.1f} s, {r['passes']} passes; "
            f"set-up {r['set_up']:.1f} s)"
        )
        if args.fills != 100_000:
            print(f"           at this rate 100,000 fills take {100_000 / r['rate'] / 60:.1f} min")
        print(
            f"           final states {r['states']} (expected {r['expected']}), "
            f"{r['events']} history rows, {r['settle_transfers']} settle:* transfers "
            f"(expected {r['legs']})"
        )
        print(
            f"           ledger check before: {r['before'] or 'sound'}; after: {r['after'] or 'sound'}"
        )
    if len(results) == 2:
        print(f"  sqlite / postgres: {results['sqlite']['rate'] / results['postgres']['rate']:.2f}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
