"""HTTP order placements: throughput and latency with 32 concurrent clients on loopback.

    .venv/bin/python bench/http_orders.py [--clients 32] [--orders-per-client 100] [--rate 0]

Starts the real application under uvicorn in a child process (one worker, SQLite in a
temporary directory), then 32 clients (asyncio, one keep-alive HTTP connection each)
send ``POST /api/v1/orders`` as fast as the server answers: 4 sellers asking on their
own models' books and 28 buyers bidding on all four, prices around a mid so that about
a third of the orders trade. Every order is durable (committed) before its response.

Flat out (the default), each client sends its next order as soon as the last one is
answered: the server is saturated and, by Little's law, the mean latency is about
clients / throughput. With ``--rate R`` the clients are paced to R requests/s in total,
which shows the latency of a server that is busy but not saturated.

Prints placements/s and the p50 / p90 / p99 / max latency seen by the clients (after
each client's connection is open), then checks every answer was 201 and the ledger is
sound.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from nmrx.accounts import service as accounts
from nmrx.market import data as market_data
from nmrx.market import instruments
from nmrx.platform.bootstrap import bootstrap
from nmrx.platform.clock import utcnow
from nmrx.platform.config import Settings
from nmrx.sellers import collateral
from nmrx.sellers.tables import NumeraiModel
from nmrx.wallet import ledger
from nmrx.wallet import service as wallet
from nmrx.wallet.money import TICK, format_nmr, nmr

ANCHOR = (900, datetime(2025, 1, 7, 13, tzinfo=UTC), datetime(2025, 1, 7, 14, tzinfo=UTC))
SELLERS = 4
PASSWORD = "correct-horse-battery"


def settings(work: Path) -> Settings:
    return Settings(
        demo=True, database_url=f"sqlite:///{work / 'nmrx.sqlite3'}", data_dir=work / "data"
    )


def setup(work: Path, clients: int) -> list[tuple[str, str, list[int]]]:
    """(token, side, books it trades on) per client."""
    c = bootstrap(settings(work))
    plan = []
    books: list[int] = []
    users = []
    for i in range(clients):
        who = accounts.register(c.db, username=f"trader{i}", password=PASSWORD)
        wallet.faucet(c.db, user_id=who.user_id, amount=nmr(100_000), max_amount=nmr(100_000))
        token, _ = accounts.create_token(
            c.db, user_id=who.user_id, name="bench", scopes="read trade"
        )
        users.append((who.user_id, token))
    models: set[int] = set()
    seen: set[int] = set()
    for user_id, _ in users[:SELLERS]:
        collateral.lock(c, user_id=user_id, amount=nmr(50_000))
        with c.db.transaction() as s:
            model = NumeraiModel(
                numerai_id=str(uuid.uuid4()),
                name=f"model{user_id}",
                tournament="classic",
                owner_user_id=user_id,
                verified_at=utcnow(),
                verified_via="api_key",
            )
            s.add(model)
            s.flush()
            models.add(model.id)
    number, opens, closes = ANCHOR
    instruments.record_round(c, number=number, open_time=opens, close_time=closes)
    instruments.open_books(c)
    for market in market_data.list_instruments(c, mode="file"):
        if market.model_id in models and market.model_id not in seen:
            seen.add(market.model_id)
            books.append(market.id)  # the nearest round's book of each model
    for i, (_, token) in enumerate(users):
        plan.append((token, "ask", [books[i]]) if i < SELLERS else (token, "bid", books))
    c.close()
    return plan


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_app():  # type: ignore[no-untyped-def]
    """The application of the work directory in ``NMRX_BENCH_DIR`` (uvicorn's factory)."""
    from nmrx.app import create_app

    return create_app(bootstrap(settings(Path(os.environ["NMRX_BENCH_DIR"])), migrate=False))


def serve(work: Path, port: int, workers: int) -> None:
    """The child process: the application under uvicorn."""
    import uvicorn

    os.environ["NMRX_BENCH_DIR"] = str(work)
    sys.path.insert(0, str(Path(__file__).parent))
    uvicorn.run(
        "http_orders:make_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


async def client(
    http: httpx.AsyncClient,
    side: str,
    books: list[int],
    n: int,
    seed: int,
    latencies: list[float],
    go: asyncio.Event,
    interval: float,
) -> list[int]:
    rng = random.Random(seed)
    statuses = []
    await http.get("/api/v1/me")  # warm-up: the connection is open before timing starts
    await go.wait()
    await asyncio.sleep(rng.random() * interval)  # spread paced clients over the interval
    due = time.perf_counter()
    for i in range(n):
        if interval:  # paced: one request every ``interval`` seconds (if the last one is back)
            due += interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        price = nmr(1) + rng.randint(-10, 10) * 100 * TICK + (300 if side == "ask" else -300) * TICK
        body = {
            "instrument_id": rng.choice(books),
            "side": side,
            "quantity": rng.randint(1, 5),
            "price": format_nmr(price),
            "client_order_id": f"{seed}-{i}",
        }
        started = time.perf_counter()
        response = await http.post("/api/v1/orders", json=body)
        latencies.append(time.perf_counter() - started)
        statuses.append(response.status_code)
    return statuses


async def load(
    url: str, plan: list[tuple[str, str, list[int]]], n: int, rate: float
) -> tuple[float, list[float], list[int]]:
    """Every client gets its connection first (creating an httpx client blocks the event
    loop for tens of ms, which would count against the first requests), then all start."""
    latencies: list[float] = []
    go = asyncio.Event()
    https = [
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        for token, _, _ in plan
    ]
    tasks = [
        asyncio.create_task(
            client(http, side, books, n, i, latencies, go, len(plan) / rate if rate else 0.0)
        )
        for i, (http, (_, side, books)) in enumerate(zip(https, plan, strict=True))
    ]
    await asyncio.sleep(1.0)  # the warm-up requests
    started = time.perf_counter()
    go.set()
    results = await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    for http in https:
        await http.aclose()
    return elapsed, latencies, [s for r in results for s in r]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--orders-per-client", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--rate", type=float, default=0, help="total requests/s (0: each client as fast as it can)"
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.workers)
        return
    work = Path(tempfile.mkdtemp(prefix="nmrx-http-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = None
    try:
        plan = setup(work, args.clients)
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        server = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                str(work),
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env=env,
        )
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise SystemExit("the server did not start")
        elapsed, latencies, statuses = asyncio.run(
            load(url, plan, args.orders_per_client, args.rate)
        )
        total = len(statuses)
        ok = statuses.count(201)
        print(
            f"{total} HTTP placements from {args.clients} concurrent clients "
            f"(uvicorn, {args.workers} worker process(es), SQLite"
            + (f", paced at {args.rate:g} requests/s in total)" if args.rate else ", flat out)")
        )
        print(f"throughput: {total / elapsed:,.0f} placements/s over {elapsed:.1f} s")
        print(
            "latency: p50 {:.1f} ms, p90 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms, mean {:.1f} ms".format(
                *(1000 * percentile(latencies, q) for q in (0.5, 0.9, 0.99)),
                1000 * max(latencies),
                1000 * statistics.fmean(latencies),
            )
        )
        print(f"answers 201: {ok}/{total}")
        c = bootstrap(settings(work), migrate=False)
        violations = ledger.check(c.db)
        c.close()
        print(f"ledger check: {'sound' if not violations else violations[:3]}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
