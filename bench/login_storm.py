"""A storm of wrong logins must not stall other users: another user's wallet reads meanwhile.

    .venv/bin/python bench/login_storm.py [--attackers 30] [--seconds 10]

Starts the real application under uvicorn in a child process (one worker, SQLite in a
temporary directory, production argon2id cost), then:

1. baseline: one user reads ``GET /api/v1/wallet`` with their token, one request after
   another, for ``--seconds``;
2. storm: the same, while ``--attackers`` threads (one keep-alive connection each) send
   ``POST /api/v1/auth/tokens`` with a wrong password for another account as fast as the
   server answers.

Prints the reader's p50 / p99 / max latency in both phases and how many wrong logins were
answered (all must be 401). The aim: p99 under 200 ms during the storm. Before the fix,
each login verified its argon2 hash inside a write transaction holding SQLite's writer
lock, and a read waited behind the queue: 4–13 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from nmrx.accounts import service as accounts
from nmrx.platform.bootstrap import bootstrap
from nmrx.platform.config import Settings
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr

PASSWORD = "correct-horse-battery"


def settings(work: Path) -> Settings:
    return Settings(
        demo=True, database_url=f"sqlite:///{work / 'nmrx.sqlite3'}", data_dir=work / "data"
    )


def setup(work: Path) -> str:
    """Two accounts: the reader (whose token is returned) and the one attacked."""
    c = bootstrap(settings(work))
    reader = accounts.register(c.db, username="reader", password=PASSWORD)
    wallet.faucet(c.db, user_id=reader.user_id, amount=nmr(10), max_amount=nmr(10))
    accounts.register(c.db, username="victim", password=PASSWORD)
    token, _ = accounts.create_token(c.db, user_id=reader.user_id, name="bench", scopes="read")
    c.close()
    return token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_app():  # type: ignore[no-untyped-def]
    """The application of the work directory in ``NMRX_BENCH_DIR`` (uvicorn's factory)."""
    from nmrx.app import create_app

    return create_app(bootstrap(settings(Path(os.environ["NMRX_BENCH_DIR"])), migrate=False))


def serve(work: Path, port: int) -> None:
    """The child process: the application under uvicorn."""
    import uvicorn

    os.environ["NMRX_BENCH_DIR"] = str(work)
    sys.path.insert(0, str(Path(__file__).parent))
    uvicorn.run(
        "login_storm:make_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def read_wallet(url: str, token: str, seconds: float) -> list[float]:
    latencies = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
        http.get("/api/v1/wallet").raise_for_status()  # connection open before timing
        until = time.perf_counter() + seconds
        while time.perf_counter() < until:
            started = time.perf_counter()
            r = http.get("/api/v1/wallet")
            latencies.append(time.perf_counter() - started)
            r.raise_for_status()
            time.sleep(0.01)
    return latencies


def attack(url: str, stop: threading.Event, statuses: list[int]) -> None:
    body = {"username": "victim", "password": "not-the-password", "name": "x", "scopes": ["read"]}
    with httpx.Client(base_url=url, timeout=60) as http:
        while not stop.is_set():
            statuses.append(http.post("/api/v1/auth/tokens", json=body).status_code)


def report(label: str, latencies: list[float]) -> None:
    print(
        f"{label}: {len(latencies)} reads, p50 {1000 * percentile(latencies, 0.5):.1f} ms, "
        f"p99 {1000 * percentile(latencies, 0.99):.1f} ms, max {1000 * max(latencies):.1f} ms, "
        f"mean {1000 * statistics.fmean(latencies):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attackers", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    work = Path(tempfile.mkdtemp(prefix="nmrx-login-storm-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = None
    try:
        token = setup(work)
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(work), "--port", str(port)],
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise SystemExit("the server did not start")
        report("GET /api/v1/wallet, alone", read_wallet(url, token, args.seconds))
        stop = threading.Event()
        statuses: list[int] = []
        attackers = [
            threading.Thread(target=attack, args=(url, stop, statuses), daemon=True)
            for _ in range(args.attackers)
        ]
        for t in attackers:
            t.start()
        time.sleep(1)  # let the storm build up
        during = read_wallet(url, token, args.seconds)
        stop.set()
        for t in attackers:
            t.join(timeout=60)
        report(f"GET /api/v1/wallet, during {args.attackers} concurrent wrong logins", during)
        wrong = statuses.count(401)
        print(f"wrong logins answered: {len(statuses)} ({wrong} with 401)")
        print(f"p99 during the storm: {1000 * percentile(during, 0.99):.1f} ms (aim: under 200 ms)")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
