"""The crash test of settlement: a few hundred fills settle while the settling process
(``nmrx settle --loop``) is killed with SIGKILL at random moments and restarted; in the end
every fill reached exactly one final state, every party got what one settlement of each
fill gives, and ``nmrx ledger check`` passes.

The fills are made through the real services in this process (four sellers — honest,
silent, cheating, not submitting to their own model — and a few dozen buyers), so every
rule path of market-rules §5.3 that needs no fault injection is crossed: File Mode released
at delivery, non-delivery refunds with the 10 % penalty, protected fills (Stake Mode and
File Mode with a slot) released on matching scores, refunded with the 100 % penalty when
the seller's model scored differently or has no submission, buyers overriding the
automatic submission, over-staking buyers. The emulator's clock is moved between the
kill phases (round open → close → first daily score); after each phase the settler runs
until every fill is in the state that phase should reach, and is killed then too.

The random plan (bids, kill delays) comes from a fixed seed. A kill comes 0.05–1 s after
the process's first write (a history row or a delivery change), so it lands in the work,
not in Python's imports; a phase's random kills stop when its work is done (or waits: a
submission whose worker was killed mid-upload is leased for two minutes of platform time,
which the test then skips over).

No wall-clock deadline decides the outcome, so a busy machine only makes the test slower:
the test follows the settler's progress (its writes, and the passes it reports on stdout).
It fails when the settler dies by itself, or when it completes ``STALL_PASSES`` passes in a
row without a write while the phase's work is unfinished and nothing is scheduled for later
(a retry or a lease in the future is skipped over by moving the emulator's clock, as the
worker would reach it by waiting). Only a settler that completes no pass at all for
``HUNG`` seconds counts as hung.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import func, select

from nmrx.delivery import uploads
from nmrx.delivery.tables import Delivery
from nmrx.market.tables import Fill
from nmrx.platform.bootstrap import Container
from nmrx.settlement.tables import FillEvent
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr
from nmrx.wallet.tables import LedgerAccount, LedgerTransfer
from numerai_emulator import EmulatorServer
from numerai_emulator.world import World
from tests.support.market import Trader, fills_of, instrument, predictions, trader

pytestmark = pytest.mark.long_running

SEED = 20_250_707
NMRX = [sys.executable, "-m", "nmrx.cli"]
BUYERS = 16  # four per seller; each buyer has two slots (two protected fills)
FILE_BIDS = 12  # unprotected File Mode bids per buyer, on random sellers
KILLS = (8, 5, 4)  # at most, per phase: round open, round closed, scores out
DELAY = (0.05, 1.0)  # seconds after the settler's first write
IDLE_PASSES = 3  # passes without a write after a start: the settler has nothing to do now
STALL_PASSES = 40  # passes in a row without a write, nothing scheduled: the settler is stuck
HUNG = 900.0  # seconds a live settler may go without completing a single pass

# seller role → (File Mode price, Stake Mode price)
PRICES = {
    "honest": ("0.5", "0.05"),
    "silent": ("0.6", "0.04"),
    "cheat": ("0.4", "0.05"),
    "absent": ("0.3", "0.03"),
}


@dataclass
class Planned:
    """A fill and what one settlement of it must do."""

    fill_id: int
    role: str  # the seller's
    kind: str  # file | file_slot | stake
    path: list[str]  # the states it passes through, in order
    seller_fault_bp: int = 0  # penalty rate on a refund
    collateral_to_seller: bool = False  # over-staked

    @property
    def final(self) -> str:
        return self.path[-1]


class Settler:
    """``nmrx settle --loop`` as a child process, killed with SIGKILL and restarted.

    Each process reports every pass it completes on stdout (``settlement pass: …``); the
    test counts them to tell a settler with nothing to do from one still at work, whatever
    the machine's load."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        rng: random.Random,
        mark: Callable[[], object],
        skip_waits: Callable[[], bool],
    ) -> None:
        self.env = {**env, "PYTHONUNBUFFERED": "1"}
        self.log, self.rng, self.mark, self.skip_waits = log, rng, mark, skip_waits
        self.kills = 0  # all of them
        self.random_kills = 0
        self.mid_work = 0  # random kills that left the phase's work unfinished
        self.skipped = 0  # waits skipped by moving the emulator's clock
        self.boots: list[float] = []  # start → first write, per process
        self.proc: subprocess.Popen[bytes] | None = None
        self.out: Path | None = None

    def start(self) -> None:
        self.out = self.log.with_name(f"settler-{self.kills}.out")
        with self.log.open("ab") as err, self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                [*NMRX, "settle", "--loop", "--interval", "0.05"],
                env=self.env,
                stdout=out,
                stderr=err,
            )

    def passes(self) -> int:
        """Passes the running process has completed."""
        assert self.out is not None
        return self.out.read_bytes().count(b"settlement pass:")

    def assert_alive(self) -> None:
        assert self.proc is not None
        assert self.proc.poll() is None, (
            f"the settler died by itself:\n{self.log.read_text()[-3000:]}"
        )

    def kill(self) -> None:
        assert self.proc is not None
        alive = self.proc.poll() is None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        assert alive, f"the settler died by itself:\n{self.log.read_text()[-3000:]}"
        self.kills += 1

    def wait_while_working(self, done: Callable[[], bool], what: str) -> bool:
        """Wait until ``done()`` or the settler's first write (True), or until it completes
        ``IDLE_PASSES`` passes without a write (False: nothing to do now)."""
        before, seen, last_pass = self.mark(), 0, time.monotonic()
        while not done():
            if self.mark() != before:
                return True
            self.assert_alive()
            passes = self.passes()
            if passes != seen:
                seen, last_pass = passes, time.monotonic()
            elif time.monotonic() - last_pass > HUNG:
                pytest.fail(f"{what}: the settler completed no pass in {HUNG:.0f} s (hung)")
            if passes >= IDLE_PASSES:
                return False
            time.sleep(0.02)
        return True

    def kill_randomly(self, most: int, missing: Callable[[], Counter[str]]) -> None:
        """Start a settler, wait for its first write, kill it 0.05–1 s later; again while
        the phase has work left and the settler makes progress, ``most`` times at most."""
        for _ in range(most):
            if not missing():
                break
            started = time.monotonic()
            self.start()
            if not self.wait_while_working(lambda: False, "random kills"):
                self.kill()  # nothing to do now (e.g. submissions under a lease)
                break
            self.boots.append(time.monotonic() - started)
            time.sleep(self.rng.uniform(*DELAY))
            self.kill()
            self.random_kills += 1
            self.mid_work += bool(missing())
        progress(f"{self.random_kills} random kills so far, {self.mid_work} with work left")

    def run_until(self, missing: Callable[[], Counter[str]], what: str) -> None:
        """Let one settler work until nothing is ``missing()``, then kill it as well.

        It may take as long as the machine needs while the settler makes progress; it fails
        when ``STALL_PASSES`` passes in a row write nothing and no wait can be skipped."""
        self.start()
        mark, seen, since, last_pass = self.mark(), 0, 0, time.monotonic()
        while left := missing():
            self.assert_alive()
            passes = self.passes()
            if (now_mark := self.mark()) != mark:
                mark, since = now_mark, passes
            if passes != seen:
                seen, last_pass = passes, time.monotonic()
            elif time.monotonic() - last_pass > HUNG:
                pytest.fail(f"{what}: the settler completed no pass in {HUNG:.0f} s (hung): {left}")
            if passes - since >= IDLE_PASSES and self.skip_waits():
                self.skipped += 1
                since = passes
            assert passes - since < STALL_PASSES, (
                f"{what}: no progress in {STALL_PASSES} settler passes: {left}\n"
                f"{self.log.read_text()[-3000:]}"
            )
            time.sleep(0.05)
        self.kill()
        progress(f"{what}: reached after {self.kills} kills")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def writes(market: Container) -> tuple[int, ...]:
    """Changes only a settler makes: history rows, deliveries and their attempts."""
    with market.db.transaction() as s:
        row = s.execute(
            select(
                select(func.count()).select_from(FillEvent).scalar_subquery(),
                select(func.count()).select_from(Delivery).scalar_subquery(),
                select(func.coalesce(func.sum(Delivery.attempts), 0)).scalar_subquery(),
                select(func.count()).where(Delivery.state != "waiting").scalar_subquery(),
            )
        ).one()
        return tuple(int(v) for v in row)


def skip_to_next_retry(market: Container, world: World) -> bool:
    """Move the emulator's clock to the next delivery retry or lease end, if one is due
    later; True when it moved (the settler would otherwise just wait for it)."""
    with market.db.transaction() as s:
        due = s.scalar(
            select(func.min(Delivery.next_attempt_at)).where(Delivery.state == "waiting")
        )
    if due is None:
        return False
    due = due if due.tzinfo else due.replace(tzinfo=UTC)
    now = world.now()
    if due <= now:
        return False
    world.advance(seconds=(due - now).total_seconds() + 1)
    return True


def states(market: Container) -> dict[int, str]:
    with market.db.transaction() as s:
        return dict(s.execute(select(Fill.id, Fill.state)).all())


def fees(market: Container) -> int:
    with market.db.transaction() as s:
        row = s.scalars(select(LedgerAccount).where(LedgerAccount.key == "platform:fees")).one()
        return row.credits - row.debits


def test_killing_the_settler_at_random_moments_settles_every_fill_exactly_once(
    market: Container, emulator: EmulatorServer, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    world = emulator.world
    started = time.monotonic()
    log = tmp_path / "settler.log"
    env = {
        **os.environ,
        "NMRX_DEMO": "true",
        "NMRX_DATABASE_URL": market.settings.effective_database_url,
        "NMRX_DATA_DIR": str(market.settings.data_dir),
        "NMRX_NUMERAI_API_URL": emulator.url,
        "NMRX_CLOCK": "emulator",
    }
    settler = Settler(
        env, log, rng, lambda: writes(market), lambda: skip_to_next_retry(market, world)
    )
    world.advance_to_next_open()
    number = world.current_round().number

    # --- the market: four sellers, buyers in four groups, fills through the real services
    # open asks reserve collateral (market-rules §5.1): 60 NMR covers the asks below
    sellers = {role: trader(market, emulator, funds=nmr(100), collateral_nmr=60) for role in PRICES}
    books = {
        role: {
            mode: instrument(market, model_id=s.model(), round_number=number, mode=mode)
            for mode in ("file", "stake")
        }
        for role, s in sellers.items()
    }
    for role, s in sellers.items():
        file_price, stake_price = PRICES[role]
        s.place(books[role]["file"], "ask", 400, file_price)  # more than the buyers take
        s.place(books[role]["stake"], "ask", 50, stake_price)
    roles = list(PRICES)
    buyers: list[tuple[Trader, str]] = []
    for i in range(BUYERS):
        buyers.append((trader(market, emulator, funds=nmr(100)), roles[i % len(roles)]))
    for buyer, role in buyers:
        file_price, stake_price = PRICES[role]
        buyer.place(books[role]["stake"], "bid", 10, stake_price, slot_model_id=buyer.model(0))
        buyer.place(books[role]["file"], "bid", 1, file_price, slot_model_id=buyer.model(1))
        for _ in range(FILE_BIDS):
            other = rng.choice(roles)
            buyer.place(books[other]["file"], "bid", rng.randint(1, 3), PRICES[other][0])
    over_stakers = {buyers[0][0].id, buyers[2][0].id}  # an honest seller's and a cheat's buyer
    overriders = {buyers[6][0].id, buyers[10][0].id}  # two buyers of the cheating seller
    for buyer, _ in buyers:
        if buyer.id in over_stakers:
            world.set_stake(buyer.numerai.classic[0], "25")  # allowance bought: 10 NMR

    # --- the sellers' files: honest submits it to their own model; the cheat submits
    # another file to their own model; "absent" submits nothing there; "silent" uploads nothing
    for role in ("honest", "cheat", "absent"):
        uploads.upload_predictions(
            market,
            user_id=sellers[role].id,
            model_id=sellers[role].model(),
            content=predictions(emulator, number, seed=1),
            filename="p.csv",
            submit_to_own_model=role == "honest",
        )
    cheat = sellers["cheat"].numerai
    market.numerai.upload(
        cheat.key,
        model_id=cheat.model_id(cheat.classic[0]),
        tournament="classic",
        content=predictions(emulator, number, seed=99),
        filename="b.csv",
    )

    # --- what one settlement of each fill must do
    nd_bp, cc_bp = market.settings.non_delivery_penalty_bp, market.settings.consistency_penalty_bp
    plan: dict[int, Planned] = {}
    for role in roles:
        for mode in ("file", "stake"):
            for f in fills_of(market, books[role][mode]):
                kind = "stake" if mode == "stake" else ("file_slot" if f.slot_model_id else "file")
                p = Planned(f.id, role, kind, [])
                p.collateral_to_seller = kind == "stake" and f.buyer_user_id in over_stakers
                if role == "silent":
                    p.path, p.seller_fault_bp = ["refunded"], nd_bp
                elif kind == "file":
                    p.path = ["released"]
                elif kind == "stake" and f.buyer_user_id in overriders:
                    p.path = ["delivered", "released"]
                elif role == "honest":
                    p.path = ["delivered", "awaiting_scores", "released"]
                else:  # cheat: scores differ; absent: no submission on the seller's model
                    p.path, p.seller_fault_bp = ["delivered", "awaiting_scores", "refunded"], cc_bp
                plan[f.id] = p
    assert set(states(market).values()) == {"pending_delivery"}
    assert len(plan) == len(states(market))
    people = [s.id for s in sellers.values()] + [b.id for b, _ in buyers]
    before = {u: wallet.balances(market.db, user_id=u) for u in people}
    fees_before = fees(market)
    with market.db.transaction() as s:
        fills = {f.id: f for f in s.scalars(select(Fill))}
    set_up = time.monotonic() - started
    progress(f"set up {len(plan)} fills in {set_up:.1f} s")

    # --- settle while killing the settler
    def reached(phase: int) -> Callable[[], Counter[str]]:
        def expected(p: Planned) -> str:
            if phase == 0:
                return "pending_delivery" if p.role == "silent" else p.path[0]
            if phase == 1:  # a seller's model without a submission is known at close
                return p.final if p.role == "absent" else p.path[min(1, len(p.path) - 1)]
            return p.final

        target = {i: expected(p) for i, p in plan.items()}

        def missing() -> Counter[str]:
            now = states(market)
            return Counter(
                f"{plan[i].role} {plan[i].kind} {now[i]}, not {target[i]}"
                for i in target
                if now[i] != target[i]
            )

        return missing

    try:
        # round open: downloads release File Mode, submissions reach the buyers' slots
        settler.kill_randomly(KILLS[0], reached(0))
        world.advance(minutes=3)  # past the lease of a submission whose worker was killed
        settler.run_until(reached(0), "deliveries")
        with market.db.transaction() as s:
            waiting = s.scalar(
                select(func.count()).where(
                    Delivery.kind == "submission", Delivery.state != "delivered"
                )
            )
        assert waiting == len([p for p in plan.values() if p.role == "silent" and p.kind != "file"])
        for buyer, _ in buyers:  # two buyers replace the automatic submission on their slot
            if buyer.id in overriders:
                market.numerai.upload(
                    buyer.numerai.key,
                    model_id=buyer.numerai.model_id(buyer.numerai.classic[0]),
                    tournament="classic",
                    content=predictions(emulator, number, seed=7),
                    filename="mine.csv",
                )
        # round closed: non-delivery refunds, overrides detected, the rest await scores
        world.advance_to_next_close()
        settler.kill_randomly(KILLS[1], reached(1))
        settler.run_until(reached(1), "round close")
        # the first daily score is out: consistency checks
        world.advance_days(4)
        settler.kill_randomly(KILLS[2], reached(2))
        settler.run_until(reached(2), "scores")
    finally:
        settler.stop()

    # --- exactly one final state per fill, one history row per state it passed through
    final = states(market)
    assert final == {i: p.final for i, p in plan.items()}
    with market.db.transaction() as s:
        events = s.execute(
            select(FillEvent.fill_id, FillEvent.to_state).order_by(FillEvent.id)
        ).all()
        settle_transfers = {
            t.id: (t.amount, t.debit_account_id, t.credit_account_id)
            for t in s.scalars(select(LedgerTransfer).where(LedgerTransfer.id.like("settle:%")))
        }
        account_key = dict(s.execute(select(LedgerAccount.id, LedgerAccount.key)).all())
    assert not [k for k, n in Counter(events).items() if n > 1], "duplicate fill events"
    history: dict[int, list[str]] = {}
    for fill_id, to_state in events:
        history.setdefault(fill_id, []).append(to_state)
    assert history == {i: p.path for i, p in plan.items()}

    # --- the money: each party got exactly what one settlement of each fill gives
    expected_transfers: dict[str, tuple[int, str, str]] = {}

    def leg(fill_id: int, name: str, amount: int, debit: str, credit: str) -> None:
        if amount > 0:  # zero legs are not posted
            expected_transfers[f"settle:{fill_id}:{name}"] = (amount, debit, credit)

    delta: Counter[tuple[int, str]] = Counter()
    fee_total = 0
    for i, p in plan.items():
        f = fills[i]
        buyer, seller = f.buyer_user_id, f.seller_user_id

        if p.final == "released":
            fee = f.notional * f.fee_rate_bp // 10_000
            leg(i, "proceeds", f.notional - fee, "platform:escrow", f"user:{seller}:available")
            leg(i, "fee", fee, "platform:escrow", "platform:fees")
            delta[seller, "available"] += f.notional - fee
            fee_total += fee
        else:
            penalty = f.notional * p.seller_fault_bp // 10_000
            leg(i, "refund", f.notional, "platform:escrow", f"user:{buyer}:available")
            leg(i, "penalty", penalty, f"user:{seller}:collateral", f"user:{buyer}:available")
            delta[buyer, "available"] += f.notional + penalty
            delta[seller, "collateral"] -= penalty
        to = seller if p.collateral_to_seller else buyer
        leg(
            i,
            "buyer_collateral",
            f.buyer_collateral,
            f"user:{buyer}:collateral",
            f"user:{to}:available",
        )
        delta[buyer, "collateral"] -= f.buyer_collateral
        delta[to, "available"] += f.buyer_collateral
    got = {
        tid: (amount, account_key[d], account_key[c])
        for tid, (amount, d, c) in settle_transfers.items()
    }
    assert got == expected_transfers
    for u in people:
        b0, b1 = before[u], wallet.balances(market.db, user_id=u)
        assert (b1.available, b1.held, b1.collateral) == (
            b0.available + delta[u, "available"],
            b0.held,
            b0.collateral + delta[u, "collateral"],
        ), f"user {u}"
    assert fees(market) - fees_before == fee_total

    # --- the ledger, checked the way an operator does
    check = subprocess.run(
        [*NMRX, "ledger", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 0, check.stdout + check.stderr
    failures = [line for line in log.read_text().splitlines() if "failed" in line]
    assert not failures, "\n".join(failures)

    outcomes = Counter(
        (p.role, p.kind + (" over-staked" if p.collateral_to_seller else ""), " → ".join(p.path))
        for p in plan.values()
    )
    print(
        f"\ncrash test ({market.settings.effective_database_url.split(':')[0]}): "
        f"{len(plan)} fills settled, settler killed {settler.kills} times: "
        f"{settler.random_kills} at random {DELAY[0]}-{DELAY[1]} s after its first write "
        f"({settler.mid_work} of them with the phase's work unfinished; first write "
        f"{min(settler.boots, default=0):.1f}-{max(settler.boots, default=0):.1f} s after "
        f"start), the others once idle or at a phase's end; {settler.skipped} waits skipped; "
        f"set-up {set_up:.1f} s, total {time.monotonic() - started:.1f} s"
    )
    for (role, kind, state), n in sorted(outcomes.items()):
        print(f"  {n:3} × {role:6} {kind:21} {state}")
