"""Concurrent collateral unlocks (issue 14, finding 9): they decide one after the other,
and the one that no longer fits is refused with a clear conflict, never a server error."""

from __future__ import annotations

import threading

from nmrx.platform.bootstrap import Container
from nmrx.platform.errors import Conflict
from nmrx.sellers import collateral
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr
from tests.support.builders import make_user


def test_two_concurrent_unlocks_of_everything_one_succeeds_one_conflicts(
    market: Container,
) -> None:
    user = make_user(market, funds=nmr(50))
    collateral.lock(market, user_id=user.id, amount=nmr(10))
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def unlock() -> None:
        start.wait()
        try:
            collateral.unlock(market, user_id=user.id, amount=nmr(10))
            outcomes.append("ok")
        except Exception as exc:  # noqa: BLE001 - the kind of refusal is the point
            outcomes.append(exc)

    threads = [threading.Thread(target=unlock) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1
    [refusal] = [o for o in outcomes if o != "ok"]
    assert isinstance(refusal, Conflict), repr(refusal)
    assert "cannot unlock 10.00 NMR: your collateral is 0.00 NMR" in str(refusal)
    b = wallet.balances(market.db, user_id=user.id)
    assert (b.available, b.collateral) == (nmr(50), 0)
