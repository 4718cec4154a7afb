"""Automatic submissions per second for one round, against the Numerai emulator.

    .venv/bin/python bench/deliveries.py [--buyers 1000] [--seed 11]

Set-up (not measured, its duration is printed): an in-process ``EmulatorServer`` at the
start of an open round; NMRX bootstrapped on a fresh SQLite file in a temp dir, following
the emulator's clock; one seller (a Numerai account with one classic model, its key added,
collateral locked) with a Stake Mode ask of ``--buyers`` units; ``--buyers`` buyers, each
registered (argon2id), funded by the faucet, with their own emulator account, one classic
model and an API key added through ``numerai_keys.add_key``, and a Stake Mode bid of 1 unit
naming that model as the slot. Books are opened before the buyers exist, so only the
seller's model has books (the worker would also open books for every buyer's model; that
does not change what a delivery does).

Measured, single process:

* nmrx   — the seller uploads the round's file (``upload_predictions``: validation,
           encrypted storage, one submission delivery scheduled per fill), then
           ``delivery.process_due`` is called until nothing is due; every delivery decrypts
           the file, uploads it to the buyer's slot through the gateway (numerapi's upload
           flow) and checks the slot's selected submission carries its nonce, with its
           database transactions and emulator clock reads.
* raw    — the reference, in the same run: the same bytes, written once to a file, uploaded
           to the same buyers' slots with the buyers' keys by plain ``numerapi.NumerAPI``
           (``upload_predictions(file_path=...)``), one after the other, with
           ``numerapi.base_api.API_TOURNAMENT_URL`` pointed at the emulator.

After the upload, the two alternate: ``process_due(limit=--chunk)`` for the next chunk of
deliveries, then the raw uploads of the next chunk of buyers, and so on (each side's time
summed), so that a change of load on a shared machine hits both alike.

The emulator runs in a thread of this process, so its own work (auth, receiving the file,
scoring each submission) is inside both timings. Prints deliveries/s, uploads/s and the ratio.

Run time on a 2-core machine is at least ~0.55 s per buyer: ~0.19 s of set-up (about half of
it argon2id) and ~0.2 s + ~0.15 s measured. The default of 1,000 buyers took 9 minutes with
the machine lightly shared and 20 minutes under heavy load; ``--buyers 250`` is the quick run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numerapi
import numpy as np
import pandas as pd
from sqlalchemy import select

from nmrx.accounts import service as accounts
from nmrx.delivery import service as delivery
from nmrx.delivery import uploads
from nmrx.delivery.tables import Delivery
from nmrx.market import instruments
from nmrx.market import service as orders
from nmrx.market.tables import Fill, Instrument
from nmrx.platform.bootstrap import Container, bootstrap
from nmrx.platform.config import Settings
from nmrx.sellers import collateral, numerai_keys
from nmrx.sellers.tables import NumeraiModel
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr
from numerai_emulator import CLASSIC, EmulatorServer, numerapi_pointed_at

PASSWORD = "correct-horse-battery"
PRICE = "0.05"


@dataclass(frozen=True)
class Participant:
    user_id: int
    model_id: int  # ours
    numerai_model_id: str
    public_id: str
    secret: str


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def participant(c: Container, emu: EmulatorServer, name: str, *, funds: int) -> Participant:
    """A user with an emulator account, one classic model and a key added to NMRX."""
    who = accounts.register(c.db, username=name, password=PASSWORD)
    wallet.faucet(c.db, user_id=who.user_id, amount=funds, max_amount=funds)
    emu.world.create_account(name)
    model = emu.world.create_model(name, f"{name}_m", tournament=CLASSIC, stake="10")
    key = emu.world.create_api_key(name)
    numerai_keys.add_key(c, user_id=who.user_id, public_id=key.public_id, secret=key.secret)
    with c.db.transaction() as s:
        ours = s.scalars(select(NumeraiModel.id).where(NumeraiModel.numerai_id == model.id)).one()
    return Participant(who.user_id, ours, model.id, key.public_id, key.secret)


def stake_instrument(c: Container, model_id: int, round_number: int) -> int:
    with c.db.transaction() as s:
        return s.scalars(
            select(Instrument.id).where(
                Instrument.model_id == model_id,
                Instrument.round_number == round_number,
                Instrument.mode == "stake",
            )
        ).one()


def predictions(emu: EmulatorServer, round_number: int, seed: int) -> bytes:
    ids = emu.world.universe(CLASSIC, round_number)
    frame = pd.DataFrame({"id": ids, "prediction": np.random.default_rng(seed).random(len(ids))})
    return frame.to_csv(index=False).encode()


def submission_states(c: Container, instrument_id: int) -> Counter[str]:
    with c.db.transaction() as s:
        rows = s.scalars(
            select(Delivery.state)
            .join(Fill, Delivery.fill_id == Fill.id)
            .where(Fill.instrument_id == instrument_id, Delivery.kind == "submission")
        ).all()
    return Counter(rows)


def set_up(c: Container, emu: EmulatorServer, buyers: int, round_number: int):  # type: ignore[no-untyped-def]
    seller = participant(c, emu, "seller", funds=nmr(1000))
    collateral.lock(c, user_id=seller.user_id, amount=nmr(500))
    instruments.open_books(c)
    market = stake_instrument(c, seller.model_id, round_number)
    orders.place_order(
        c,
        user_id=seller.user_id,
        instrument_id=market,
        side="ask",
        quantity=buyers,
        price=nmr(PRICE),
        client_order_id="bench-ask",
    )
    people: list[Participant] = []
    start = time.perf_counter()
    for i in range(buyers):
        buyer = participant(c, emu, f"buyer{i:05d}", funds=nmr(10))
        orders.place_order(
            c,
            user_id=buyer.user_id,
            instrument_id=market,
            side="bid",
            quantity=1,
            price=nmr(PRICE),
            client_order_id=f"bench-bid-{i}",
            slot_model_id=buyer.model_id,
        )
        people.append(buyer)
        if (i + 1) % 100 == 0:
            rate = (i + 1) / (time.perf_counter() - start)
            log(f"  set-up: {i + 1}/{buyers} buyers ({rate:.1f} buyers/s)")
    with c.db.transaction() as s:
        fills = len(s.scalars(select(Fill.id).where(Fill.instrument_id == market)).all())
    if fills != buyers:
        raise SystemExit(f"expected {buyers} fills, got {fills}")
    return seller, people, market


def raw_upload(person: Participant, path: Path) -> str:
    api = numerapi.NumerAPI(
        public_id=person.public_id,
        secret_key=person.secret,
        verbosity="warning",
        show_progress_bars=False,
    )
    return api.upload_predictions(file_path=str(path), model_id=person.numerai_model_id)


@dataclass
class Timings:
    upload_s: float = 0.0
    nmrx_s: float = 0.0
    raw_s: float = 0.0
    raw_ok: int = 0
    calls: int = 0


def measure(
    c: Container,
    emu: EmulatorServer,
    seller: Participant,
    people: list[Participant],
    content: bytes,
    path: Path,
    chunk: int,
) -> Timings:
    """The seller's upload, then nmrx and raw in alternating chunks of ``chunk`` buyers (so a
    change in machine load hits both alike), then whatever nmrx still has due."""
    t = Timings()
    start = time.perf_counter()
    uploads.upload_predictions(
        c, user_id=seller.user_id, model_id=seller.model_id, content=content, filename="p.csv"
    )
    t.upload_s = time.perf_counter() - start
    with numerapi_pointed_at(emu.url):
        for first in range(0, len(people), chunk):
            start = time.perf_counter()
            t.calls += 1
            delivery.process_due(c, limit=chunk)
            t.nmrx_s += time.perf_counter() - start
            start = time.perf_counter()
            ids = [raw_upload(person, path) for person in people[first : first + chunk]]
            t.raw_s += time.perf_counter() - start
            t.raw_ok += sum(1 for i in ids if i)
            log(f"  {first + len(ids)}/{len(people)}")
    start = time.perf_counter()
    while True:
        t.calls += 1
        if not delivery.process_due(c, limit=chunk):
            break
    t.nmrx_s += time.perf_counter() - start
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--chunk", type=int, default=50, help="buyers per alternation")
    args = parser.parse_args()
    n = args.buyers

    with (
        tempfile.TemporaryDirectory(prefix="nmrx-bench-deliveries-") as tmp,
        EmulatorServer(seed=args.seed) as emu,
    ):
        emu.world.advance_to_next_open()
        round_number = emu.world.current_round().number
        c = bootstrap(
            Settings(
                demo=True,
                database_url=f"sqlite:///{tmp}/b.sqlite3",
                data_dir=Path(tmp),
                numerai_api_url=emu.url,
                clock="emulator",
                numerai_backoff_seconds=0.01,
            )
        )
        try:
            t0 = time.perf_counter()
            log(f"set-up: round {round_number}, 1 seller, {n} buyers …")
            seller, people, market = set_up(c, emu, n, round_number)
            setup_s = time.perf_counter() - t0

            content = predictions(emu, round_number, args.seed)
            path = Path(tmp) / "predictions.csv"
            path.write_bytes(content)
            with numerapi_pointed_at(emu.url):  # warm-up: one raw upload to the seller's model
                raw_upload(seller, path)

            log(f"timing nmrx deliveries and raw numerapi uploads, alternating by {args.chunk} …")
            t = measure(c, emu, seller, people, content, path, args.chunk)
            states = submission_states(c, market)
        finally:
            c.close()

    delivered = states.get("delivered", 0)
    nmrx_rate, raw_rate = delivered / t.nmrx_s, t.raw_ok / t.raw_s
    print(
        f"round {round_number}: 1 seller, {n:,} buyers with a 1-unit Stake Mode bid each "
        f"({n:,} fills); file {len(content):,} B CSV; SQLite; in-process emulator; "
        f"set-up {setup_s:.1f} s (not measured)"
    )
    print(f"{'':<48} {'count':>7} {'seconds':>9} {'per s':>9} {'ms each':>9}")
    print(
        f"{'seller upload (validate, store, schedule all)':<48} {1:>7} {t.upload_s:9.3f} "
        f"{'':>9} {t.upload_s * 1000:9.1f}"
    )
    print(
        f"{'nmrx: delivery.process_due until none due':<48} {delivered:>7,} {t.nmrx_s:9.2f} "
        f"{nmrx_rate:9.1f} {t.nmrx_s * 1000 / max(delivered, 1):9.1f}"
    )
    print(
        f"{'raw numerapi upload_predictions (reference)':<48} {t.raw_ok:>7,} {t.raw_s:9.2f} "
        f"{raw_rate:9.1f} {t.raw_s * 1000 / max(t.raw_ok, 1):9.1f}"
    )
    print(f"ratio nmrx deliveries/s ÷ raw uploads/s: {nmrx_rate / raw_rate:.2f}x")
    print(
        f"submission states: {dict(states)}; process_due calls: {t.calls} "
        f"(limit {args.chunk}, alternating with the reference)"
    )
    if delivered != n:
        print(f"WARNING: only {delivered} of {n} submissions were delivered")


if __name__ == "__main__":
    main()
