"""Property: random trading sessions through the service layer — limit, IOC, FOK and
post-only orders, Buy Now / Sell Now, cancels, resubmitted client order ids, ladders,
standing bids, days passing (books closing with expiry, new books opening) — keep every
ledger and market invariant (held = open bids, escrow = unsettled fills, no crossed
book, …), and a refused order changes nothing."""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
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
from sqlalchemy import func, select

from nmrx.market import instruments
from nmrx.market import service as orders
from nmrx.market import standing_orders as listings
from nmrx.market.tables import Instrument, MarketOrder
from nmrx.platform.bootstrap import bootstrap
from nmrx.platform.errors import ServiceError
from nmrx.wallet import ledger
from nmrx.wallet import service as wallet
from nmrx.wallet.money import TICK, nmr
from tests.conftest import BACKENDS, _truncate_all, make_settings
from tests.support.books import NOW, make_model, make_seller, seed_calendar
from tests.support.builders import make_user

PRICES = st.integers(min_value=1, max_value=12).map(lambda n: n * 2_500 * TICK)  # 0.25 … 3 NMR
QUANTITIES = st.integers(min_value=1, max_value=6)
TRADERS = st.integers(min_value=0, max_value=4)  # 0, 1: sellers (each also buys the other)
BOOKS = st.integers(min_value=0, max_value=5)
TYPES = st.sampled_from(["limit", "limit", "limit", "ioc", "fok", "post_only"])
CLIENT_IDS = st.one_of(st.none(), st.sampled_from([f"c{i}" for i in range(6)]))


class MarketMachine(RuleBasedStateMachine):
    database_url: str = ""

    @initialize()
    def setup(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.c = bootstrap(make_settings(self.database_url, self.tmp))
        sellers = [make_seller(self.c, funds=nmr(40), locked=nmr(20)) for _ in range(2)]
        buyers = [make_user(self.c, funds=nmr(60)) for _ in range(3)]
        self.users = [s.user for s in sellers] + buyers
        self.models = [s.model_id for s in sellers]
        self.slots = {u.id: make_model(self.c, u) for u in self.users}
        self.now = NOW
        seed_calendar(self.c)
        instruments.open_books(self.c, now=self.now)

    def teardown(self) -> None:
        if hasattr(self, "c"):
            self.c.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _books(self) -> list[int]:
        """Two file books and one stake book per model, nearest rounds first."""
        with self.c.db.transaction() as s:
            rows = s.execute(
                select(Instrument.id, Instrument.model_id, Instrument.mode)
                .where(Instrument.state == "open")
                .order_by(Instrument.round_number, Instrument.id)
            ).all()
        chosen: list[int] = []
        for model in self.models:
            files = [i for i, m, mode in rows if m == model and mode == "file"][:2]
            stakes = [i for i, m, mode in rows if m == model and mode == "stake"][:1]
            chosen += files + stakes
        return chosen

    def _state(self) -> tuple[object, ...]:
        with self.c.db.transaction() as s:
            count = s.execute(select(func.count()).select_from(MarketOrder)).scalar_one()
        return count, [wallet.balances(self.c.db, user_id=u.id) for u in self.users]

    def _refusal_changes_nothing(self, call) -> None:  # type: ignore[no-untyped-def]
        before = self._state()
        try:
            call()
        except ServiceError:
            assert self._state() == before, "a refused request must change nothing"

    @rule(
        trader=TRADERS,
        book=BOOKS,
        side=st.sampled_from(["bid", "ask"]),
        qty=QUANTITIES,
        price=PRICES,
        kind=TYPES,
        cid=CLIENT_IDS,
    )
    def place(
        self, trader: int, book: int, side: str, qty: int, price: int, kind: str, cid: str | None
    ) -> None:
        user = self.users[trader]
        self._refusal_changes_nothing(
            lambda: orders.place_order(
                self.c,
                user_id=user.id,
                instrument_id=self._books()[book],
                side=side,
                quantity=qty,
                price=price,
                order_type=kind,
                client_order_id=cid,
                slot_model_id=self.slots[user.id],
                now=self.now,
            )
        )

    @rule(trader=TRADERS, book=BOOKS, qty=QUANTITIES, buy=st.booleans())
    def at_best(self, trader: int, book: int, qty: int, buy: bool) -> None:
        user = self.users[trader]
        if buy:
            call = lambda: orders.buy_now(  # noqa: E731
                self.c,
                user_id=user.id,
                instrument_id=self._books()[book],
                quantity=qty,
                slot_model_id=self.slots[user.id],
                now=self.now,
            )
        else:
            call = lambda: orders.sell_now(  # noqa: E731
                self.c,
                user_id=user.id,
                instrument_id=self._books()[book],
                quantity=qty,
                now=self.now,
            )
        self._refusal_changes_nothing(call)

    @rule(trader=TRADERS, pick=st.integers(min_value=0, max_value=20))
    def cancel(self, trader: int, pick: int) -> None:
        user = self.users[trader]
        mine = orders.list_orders(self.c, user_id=user.id, state="open")
        if mine:
            orders.cancel_order(
                self.c, user_id=user.id, order_id=mine[pick % len(mine)].id, now=self.now
            )

    @rule(
        seller=st.integers(0, 1),
        mode=st.sampled_from(["file", "stake"]),
        levels=st.lists(
            st.tuples(QUANTITIES, PRICES), min_size=1, max_size=3, unique_by=lambda lv: lv[1]
        ),
        apply=st.booleans(),
    )
    def ladder(self, seller: int, mode: str, levels: list[tuple[int, int]], apply: bool) -> None:
        user = self.users[seller]
        self._refusal_changes_nothing(
            lambda: listings.set_ladder(
                self.c,
                user_id=user.id,
                model_id=self.models[seller],
                mode=mode,
                levels=levels,
                apply_to_open=apply,
                now=self.now,
            )
        )

    @rule(
        trader=st.integers(1, 4),
        model=st.integers(0, 1),
        mode=st.sampled_from(["file", "stake"]),
        qty=QUANTITIES,
        price=PRICES,
        rounds=st.one_of(st.none(), st.integers(1, 3)),
    )
    def standing_bid(
        self, trader: int, model: int, mode: str, qty: int, price: int, rounds: int | None
    ) -> None:
        user = self.users[trader]
        self._refusal_changes_nothing(
            lambda: listings.create_standing_bid(
                self.c,
                user_id=user.id,
                model_id=self.models[model],
                mode=mode,
                quantity=qty,
                price=price,
                rounds=rounds,
                slot_model_id=self.slots[user.id],
                now=self.now,
            )
        )

    @rule()
    def next_day(self) -> None:
        self.now += timedelta(days=1)
        instruments.close_books(self.c, now=self.now)
        instruments.open_books(self.c, now=self.now)

    @invariant()
    def every_invariant_holds(self) -> None:
        if hasattr(self, "c"):
            assert ledger.check(self.c.db) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_trading_sessions_keep_every_invariant(
    backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        work = Path(tempfile.mkdtemp())

        class Machine(MarketMachine):
            def __init__(self) -> None:
                target = work / f"db{id(self)}.sqlite3"
                shutil.copy(template, target)
                type(self).database_url = f"sqlite:///{target}"
                super().__init__()

        examples = 10
    else:
        url: str = request.getfixturevalue("postgres_database")

        class Machine(MarketMachine):  # type: ignore[no-redef]
            def __init__(self) -> None:
                _truncate_all(url)
                type(self).database_url = url
                super().__init__()

        examples = 5
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
