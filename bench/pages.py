"""Render time of every main web page on the demo data.

    .venv/bin/python bench/pages.py [--runs 30] [--warmup 3] [--history-rounds 32]
        [--all-models] [--limit-ms 300]

Starts ``nmrx demo`` exactly as a newcomer would (its own temporary data directory, a free
port; the demo starts its Numerai emulator and its worker), waits until the score history
is in — every seller's model shows ``--history-rounds`` rounds on the track-record API
(the demo generates them in the background; a model the worker synced before its history
was generated is synced again through the page's "sync now" form) and the worker has
refreshed the market list since — then logs in through the real login form (CSRF token
from the form) as a seller (alice) and a buyer (bob).

Every main page (``grep -n "@router.get" src/nmrx/*/web.py``; downloads and the
server-sent event stream are not pages) is requested ``--warmup`` times, then ``--runs``
times, one request at a time on a keep-alive connection. A sample is the client's wall
time on loopback from sending the request to having read the whole body; so it includes
HTTP on loopback and the client, on the same machine. Prints p50 / p95 / max per page and
flags any page whose p95 is above ``--limit-ms``. Stops the demo's process group at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

SELLERS = ("alice", "carol", "dora", "erik", "fatima", "gus")
PASSWORD = "demo-password"
# A spread of models: the one traded and settled in the demo's first round, a Signals
# model, a big and a small stake, a seller with few models. ``--all-models`` times them all.
SAMPLE_MODELS = ("alice_m1", "carol_m1", "dora_alpha", "erik_lgbm", "fatima_sig", "gus_three")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(work: Path, port: int, history_rounds: int) -> subprocess.Popen[bytes]:
    """``nmrx demo`` on a free port in its own process group (it also runs the emulator and
    the worker as subprocesses)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NMRX_")}
    log = open(work / "demo.log", "wb")  # noqa: SIM115 - closed when the process ends
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nmrx.cli",
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(work / "data"),
            "--history-rounds",
            str(history_rounds),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=work,
        start_new_session=True,
    )


def stop_demo(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C to the whole group (server, emulator, worker), then harder if it lingers."""
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            # the group may outlive its leader by a moment: make sure it is gone
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"nmrx demo did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.3)


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not match:
        raise SystemExit("no CSRF token in the form")
    return match.group(1)


def login(url: str, username: str) -> httpx.Client:
    """A browser-like session: GET the login form, POST it with its CSRF token."""
    client = httpx.Client(base_url=url, timeout=60)
    token = form_token(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/wallet"},
    )
    if answer.status_code != 303 or answer.headers.get("location") != "/wallet":
        raise SystemExit(f"login as {username} failed: {answer.status_code} {answer.text[:200]}")
    return client


def wait_for_history(
    url: str, session: httpx.Client, models: dict[str, int], rounds: int, timeout: float
) -> None:
    """Until every seller's model shows ``rounds`` rounds of track record, then until the
    worker has refreshed the market list after the last sync."""
    deadline = time.monotonic() + timeout
    missing = dict(models)
    synced_any = False
    while missing and time.monotonic() < deadline:
        for name, model_id in list(missing.items()):
            record = httpx.get(f"{url}/api/v1/models/{model_id}/performance", timeout=30).json()
            if len(record["rounds"]) >= rounds:
                del missing[name]
                continue
            # The worker may have synced it before its history existed; the page's own
            # "sync now" form syncs it again (a sync within the last minute is reused).
            token = form_token(session.get(f"/models/{model_id}/track-record").text)
            session.post(
                f"/models/{model_id}/track-record/sync",
                data={"csrf_token": token, "back": f"/models/{model_id}/track-record"},
            )
            synced_any = True
        if missing:
            print(f"  waiting for the score history of {len(missing)} model(s)…", flush=True)
            time.sleep(10)
    if missing:
        print(f"  WARNING: no full history after {timeout:.0f} s for {', '.join(missing)}")
    if not synced_any:
        return

    # The market list (score mean, Sharpe columns) reads summaries the worker refreshes
    # every minute: wait for a refresh after the last sync.
    def refreshed() -> str:
        items = httpx.get(f"{url}/api/v1/discover", timeout=30).json()["items"]
        return max((i["refreshed_at"] or "" for i in items), default="")

    before = refreshed()
    until = time.monotonic() + 150
    while refreshed() == before and time.monotonic() < until:
        time.sleep(5)


@dataclass
class Result:
    page: str
    who: str
    status: int
    size: int
    samples: list[float]

    def pct(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(client: httpx.Client, who: str, path: str, warmup: int, runs: int) -> Result:
    for _ in range(warmup):
        answer = client.get(path)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = client.get(path)  # reads the whole body
        samples.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"GET {path} as {who}: {answer.status_code} {answer.text[:300]}")
    return Result(path, who, answer.status_code, len(answer.content), samples)


def fill_ids(client: httpx.Client, page: str, limit: int = 2) -> list[int]:
    found = [int(i) for i in re.findall(r'href="/fills/(\d+)"', client.get(page).text)]
    return list(dict.fromkeys(found))[:limit]


def plan(
    url: str, alice: httpx.Client, bob: httpx.Client, models: dict[str, int], all_models: bool
) -> list[tuple[str, httpx.Client, str]]:
    """(who, session, path) for every main page."""
    visitor = httpx.Client(base_url=url, timeout=60)
    chosen = models if all_models else {n: models[n] for n in SAMPLE_MODELS if n in models}
    first = next(iter(chosen.values()))
    pages: list[tuple[str, httpx.Client, str]] = [
        ("visitor", visitor, "/"),
        ("visitor", visitor, "/markets"),
        ("visitor", visitor, "/markets?q=dora&sort=sharpe"),
        ("visitor", visitor, "/markets?tournament=classic&mode=stake&has_asks=on&sort=lowest_ask"),
        ("visitor", visitor, "/markets?sort=score&page=2"),
        ("visitor", visitor, "/login"),
        ("visitor", visitor, "/register"),
        ("visitor", visitor, "/demo"),
        ("visitor", visitor, "/sellers/alice"),
        ("visitor", visitor, "/sellers/fatima"),
    ]
    for model_id in chosen.values():
        pages.append(("visitor", visitor, f"/models/{model_id}"))
    pages.append(("visitor", visitor, f"/models/{first}?mode=stake"))
    for model_id in chosen.values():
        pages.append(("visitor", visitor, f"/models/{model_id}/track-record"))
    for who, client in (("alice", alice), ("bob", bob)):
        pages += [
            (who, client, "/"),
            (who, client, "/markets"),
            (who, client, f"/models/{first}"),
            (who, client, f"/models/{first}?mode=stake"),
            (who, client, f"/models/{first}/track-record"),
            (who, client, "/portfolio"),
            (who, client, "/sales"),
        ]
        fills = fill_ids(client, "/sales" if who == "alice" else "/portfolio")
        pages += [(who, client, f"/fills/{f}") for f in fills]
        pages += [
            (who, client, path)
            for path in (
                "/deliveries",
                "/wallet",
                "/sell",
                "/numerai-keys",
                "/tokens",
                "/notifications",
                "/demo",
            )
        ]
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--history-rounds", type=int, default=32)
    parser.add_argument("--all-models", action="store_true", help="every model, not a sample")
    parser.add_argument("--limit-ms", type=float, default=300.0)
    parser.add_argument("--history-timeout", type=float, default=600.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nmrx-bench-pages-") as tmp:
        work = Path(tmp)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        proc = start_demo(work, port, args.history_rounds)
        try:
            wait_until_up(url, proc, work / "demo.log", timeout=300)
            print(f"nmrx demo up on {url} after {time.monotonic() - started:.0f} s", flush=True)
            alice, bob = login(url, "alice"), login(url, "bob")
            markets = httpx.get(f"{url}/api/v1/markets", timeout=30).json()
            models = {
                m["model_name"]: m["model_id"]
                for m in sorted(markets, key=lambda m: m["model_id"])
                if m["owner"] in SELLERS
            }
            if args.history_rounds:
                wait_for_history(url, alice, models, args.history_rounds, args.history_timeout)
            print(
                f"demo data ready after {time.monotonic() - started:.0f} s: {len(models)} "
                f"sellers' models, {args.history_rounds} rounds of history; "
                f"{args.warmup} warm-up + {args.runs} timed requests per page",
                flush=True,
            )
            results = []
            for who, client, path in plan(url, alice, bob, models, args.all_models):
                results.append(measure(client, who, path, args.warmup, args.runs))
                r = results[-1]
                print(
                    f"  {r.page:<68} {r.who:<8} {r.size:>7,} B  p50 {r.pct(0.5):6.1f}  "
                    f"p95 {r.pct(0.95):6.1f}  max {max(r.samples):6.1f} ms",
                    flush=True,
                )
        finally:
            stop_demo(proc)

    print()
    print("| page | as | p50 (ms) | p95 (ms) | max (ms) |")
    print("|---|---|---|---|---|")
    slow = []
    for r in results:
        flag = ""
        if r.pct(0.95) > args.limit_ms:
            flag = f" ⚠ over {args.limit_ms:.0f} ms"
            slow.append(r)
        print(
            f"| `{r.page}` | {r.who} | {r.pct(0.5):.1f} | {r.pct(0.95):.1f} | "
            f"{max(r.samples):.1f} |{flag}"
        )
    worst = max(results, key=lambda r: r.pct(0.95))
    print()
    print(
        f"{len(results)} pages; slowest p95: {worst.page} as {worst.who}, "
        f"{worst.pct(0.95):.1f} ms (max {max(worst.samples):.1f} ms)"
    )
    if slow:
        print(f"{len(slow)} page(s) above {args.limit_ms:.0f} ms at p95")
    else:
        print(f"every page under {args.limit_ms:.0f} ms at p95")


if __name__ == "__main__":
    main()
