"""Several threads move money between the same accounts at once: no lost update, no overdraft."""

from __future__ import annotations

import random
import threading
from collections import Counter

from nmrx.platform.bootstrap import Container
from nmrx.wallet import ledger
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr
from nmrx.wallet.rules import AccountKind, InsufficientFunds, TransferSpec, user_account_key
from tests.support.builders import make_user

THREADS = 8
MOVES_PER_THREAD = 40


def test_concurrent_transfers_lose_no_update(container: Container) -> None:
    users = [make_user(container, funds=nmr(5)).id for _ in range(4)]
    expected = Counter({u: nmr(5) for u in users})
    lock = threading.Lock()
    errors: list[BaseException] = []
    refused = Counter[str]()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for n in range(MOVES_PER_THREAD):
                a, b = rng.sample(users, 2)
                amount = rng.randint(1, nmr(2))
                spec = TransferSpec(
                    f"c{seed}-{n}",
                    user_account_key(a, AccountKind.AVAILABLE),
                    user_account_key(b, AccountKind.AVAILABLE),
                    amount,
                    "p2p",
                )
                try:
                    ledger.transfer(container.db, spec)
                    # a retry of the same id from another moment changes nothing
                    ledger.transfer(container.db, spec)
                except InsufficientFunds:
                    with lock:
                        refused["overdraft"] += 1
                    continue
                with lock:
                    expected[a] -= amount
                    expected[b] += amount
        except BaseException as exc:  # surface thread failures in the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    for u in users:
        assert wallet.balances(container.db, user_id=u).available == expected[u]
    assert sum(expected.values()) == nmr(20)
    assert ledger.check(container.db) == []


def test_concurrent_holds_never_overdraw(container: Container) -> None:
    buyer = make_user(container, funds=nmr(10)).id
    accepted: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            ledger.place_hold(
                container.db, hold_id=f"bid-{n}", user_id=buyer, amount=nmr(3), purpose="bid"
            )
        except InsufficientFunds:
            return
        with lock:
            accepted.append(f"bid-{n}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(accepted) == 3
    b = wallet.balances(container.db, user_id=buyer)
    assert (b.available, b.held) == (nmr(1), nmr(9))
