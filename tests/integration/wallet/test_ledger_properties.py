"""Property: random sequences of transfers, holds, posts, voids, retries and overdrafts keep
every invariant, and a refused operation changes nothing (the database always equals a
simple model that only applies accepted operations)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from nmrx.platform.bootstrap import bootstrap
from nmrx.wallet import ledger
from nmrx.wallet import service as wallet
from nmrx.wallet.rules import (
    AccountKind,
    LedgerError,
    TransferSpec,
    platform_account_key,
    user_account_key,
)
from tests.conftest import BACKENDS, _truncate_all, make_settings
from tests.support.builders import make_user

ESCROW = platform_account_key(AccountKind.ESCROW)
amounts = st.integers(min_value=1, max_value=3_000)
ids = st.sampled_from([f"t{i}" for i in range(6)])
hold_ids = st.sampled_from([f"h{i}" for i in range(4)])
users = st.integers(min_value=0, max_value=2)


class LedgerMachine(RuleBasedStateMachine):
    database_url: str = ""

    @initialize()
    def setup(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.container = bootstrap(make_settings(self.database_url, self.tmp))
        self.users = [make_user(self.container).id for _ in range(3)]
        self.available = {u: 0 for u in self.users}
        self.held = {u: 0 for u in self.users}
        self.transfers: dict[str, tuple[int, int, int]] = {}
        self.holds: dict[str, dict[str, int | str]] = {}
        self.posts: set[str] = set()

    def teardown(self) -> None:
        if hasattr(self, "container"):
            self.container.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    @rule(user=users, amount=amounts)
    def faucet(self, user: int, amount: int) -> None:
        uid = self.users[user]
        wallet.faucet(self.container.db, user_id=uid, amount=amount, max_amount=10_000)
        self.available[uid] += amount

    @rule(tid=ids, src=users, dst=users, amount=amounts)
    def transfer(self, tid: str, src: int, dst: int, amount: int) -> None:
        a, b = self.users[src], self.users[dst]
        spec = TransferSpec(
            tid,
            user_account_key(a, AccountKind.AVAILABLE),
            user_account_key(b, AccountKind.AVAILABLE),
            amount,
            "p2p",
        )
        try:
            ledger.transfer(self.container.db, spec)
        except LedgerError:
            same_retry = self.transfers.get(tid) == (a, b, amount)
            assert not same_retry, "retrying an identical transfer must succeed as a no-op"
            assert tid in self.transfers or a == b or self.available[a] < amount
            return
        if tid in self.transfers:
            assert self.transfers[tid] == (a, b, amount), (
                "a reused id with other details must be refused"
            )
            return
        assert a != b and self.available[a] >= amount
        self.transfers[tid] = (a, b, amount)
        self.available[a] -= amount
        self.available[b] += amount

    @rule(hid=hold_ids, user=users, amount=amounts)
    def place_hold(self, hid: str, user: int, amount: int) -> None:
        uid = self.users[user]
        try:
            ledger.place_hold(
                self.container.db, hold_id=hid, user_id=uid, amount=amount, purpose="bid"
            )
        except LedgerError:
            existing = self.holds.get(hid)
            assert (
                existing is not None
                and (existing["user"], existing["amount"]) != (uid, amount)
                or (existing is None and self.available[uid] < amount)
            )
            return
        if hid in self.holds:
            return  # idempotent retry
        self.holds[hid] = {"user": uid, "amount": amount, "remaining": amount, "state": "pending"}
        self.available[uid] -= amount
        self.held[uid] += amount

    @rule(hid=hold_ids, post_no=st.integers(0, 5), amount=amounts)
    def post(self, hid: str, post_no: int, amount: int) -> None:
        tid = f"{hid}:post{post_no}"
        try:
            ledger.post_hold(
                self.container.db,
                hold_id=hid,
                transfer_id=tid,
                amount=amount,
                credit=ESCROW,
                code="fill",
            )
        except LedgerError:
            h = self.holds.get(hid)
            assert h is None or h["state"] != "pending" or amount > int(h["remaining"])
            return
        h = self.holds[hid]
        if tid in self.posts:
            return  # idempotent retry
        self.posts.add(tid)
        h["remaining"] = int(h["remaining"]) - amount
        h["state"] = "posted" if h["remaining"] == 0 else "pending"
        self.held[int(h["user"])] -= amount

    @rule(hid=hold_ids)
    def void(self, hid: str) -> None:
        try:
            ledger.void_hold(self.container.db, hold_id=hid)
        except LedgerError:
            h = self.holds.get(hid)
            assert h is None or h["state"] == "posted"
            return
        h = self.holds[hid]
        if h["state"] == "voided":
            return
        self.available[int(h["user"])] += int(h["remaining"])
        self.held[int(h["user"])] -= int(h["remaining"])
        h["remaining"], h["state"] = 0, "voided"

    @invariant()
    def ledger_is_sound_and_matches_the_model(self) -> None:
        if not hasattr(self, "container"):
            return
        assert ledger.check(self.container.db) == []
        for uid in self.users:
            b = wallet.balances(self.container.db, user_id=uid)
            assert (b.available, b.held) == (self.available[uid], self.held[uid])


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_ledger_sessions_keep_every_invariant(
    backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        work = Path(tempfile.mkdtemp())

        class Machine(LedgerMachine):
            def __init__(self) -> None:
                target = work / f"db{id(self)}.sqlite3"
                shutil.copy(template, target)
                type(self).database_url = f"sqlite:///{target}"
                super().__init__()

        examples = 25
    else:
        url: str = request.getfixturevalue("postgres_database")

        class Machine(LedgerMachine):  # type: ignore[no-redef]
            def __init__(self) -> None:
                _truncate_all(url)
                type(self).database_url = url
                super().__init__()

        examples = 10
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
