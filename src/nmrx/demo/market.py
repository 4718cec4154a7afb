"""Seeding a living demo market: sellers with 20+ verified models and score history, ask
ladders in every open book, a round already traded, delivered and settled (with reviews
from its buyers), and fresh bids in the upcoming books.

Everything goes through the real services and the emulator's HTTP APIs; only the
emulator's admin API (demo only) creates Numerai accounts and moves its clock."""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import select

from nmrx.accounts import service as accounts
from nmrx.delivery import service as delivery
from nmrx.delivery import uploads
from nmrx.market import instruments
from nmrx.market import service as orders
from nmrx.market import standing_orders as listings
from nmrx.operator import service as operator
from nmrx.platform.bootstrap import Container
from nmrx.platform.emulator_admin import EmulatorAdmin
from nmrx.reputation import reviews
from nmrx.sellers import collateral, numerai_keys
from nmrx.sellers.rules import seller_requirement
from nmrx.sellers.tables import NumeraiModel
from nmrx.settlement import service as settlement
from nmrx.wallet import service as wallet
from nmrx.wallet.money import nmr

if TYPE_CHECKING:
    from nmrx.market.data import InstrumentView

log = logging.getLogger("nmrx.demo.run")
PASSWORD = "demo-password"
HISTORY_ROUNDS = 32

# seller -> models (name, tournament, stake, skill)
NEW_SELLERS: dict[str, list[tuple[str, int, str, float]]] = {
    "dora": [
        ("dora_alpha", 8, "250", 0.08),
        ("dora_beta", 8, "120", 0.05),
        ("dora_gamma", 8, "40", 0.02),
        ("dora_sig", 11, "60", 0.04),
    ],
    "erik": [
        ("erik_lgbm", 8, "300", 0.07),
        ("erik_nn", 8, "90", 0.04),
        ("erik_ens", 8, "150", 0.06),
        ("erik_tiny", 8, "10", 0.01),
    ],
    "fatima": [
        ("fatima_v5", 8, "500", 0.09),
        ("fatima_v4", 8, "200", 0.06),
        ("fatima_era", 8, "75", 0.03),
        ("fatima_sig", 11, "30", 0.03),
    ],
    "gus": [("gus_one", 8, "20", 0.02), ("gus_two", 8, "35", 0.03), ("gus_three", 8, "5", 0.0)],
    "carol": [("carol_m2", 8, "80", 0.05), ("carol_m3", 8, "15", 0.02)],
}
BUYERS = ["bob", "hank", "iris"]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


def _predictions(c: Container, tournament: str, round_number: int, seed: int) -> bytes:
    ids = c.numerai.live_universe(tournament, round_number)
    col = "numerai_ticker" if tournament == "signals" else "id"
    rng = np.random.default_rng(seed)
    return pd.DataFrame({col: ids, "prediction": rng.random(len(ids))}).to_csv(index=False).encode()


def _models_of(c: Container, user_id: int) -> list[NumeraiModel]:
    with c.db.transaction() as s:
        rows = list(
            s.scalars(
                select(NumeraiModel)
                .where(NumeraiModel.owner_user_id == user_id)
                .order_by(NumeraiModel.id)
            )
        )
        for r in rows:
            s.expunge(r)
        return rows


def seed(
    c: Container, admin: EmulatorAdmin, *, history_rounds: int = HISTORY_ROUNDS
) -> tuple[list[DemoLogin], threading.Thread]:
    """Seed the market; returns the demo logins and the thread backfilling score history."""
    rng = random.Random(7)
    tokens, skills = _create_numerai_accounts(admin)
    sellers = ["alice", "carol", *[s for s in NEW_SELLERS if s != "carol"]]
    users, logins = _register_traders(c, tokens, sellers)
    instruments.sync_calendar(c)
    instruments.open_books(c)
    _list_ask_ladders(c, users, sellers, rng)
    _trade_and_settle_a_round(c, admin, users, sellers, rng)
    _fresh_bids(c, users, rng)
    logins.append(_register_operator(c))
    history = threading.Thread(
        target=_backfill, args=(c, admin, skills, history_rounds), name="demo-history", daemon=True
    )
    history.start()
    return logins, history


def _create_numerai_accounts(admin: EmulatorAdmin) -> tuple[dict[str, str], dict[str, float]]:
    """The new sellers' and buyers' Numerai accounts, models and API keys in the emulator.

    Returns every account's API token by username and every model's skill by name."""
    state = admin.state()
    tokens = {a["username"]: a["keys"][0]["token"] for a in state["accounts"] if a.get("keys")}
    skills: dict[str, float] = {
        "alice_m1": 0.07,
        "alice_m2": 0.04,
        "alice_sig": 0.03,
        "carol_m1": 0.05,
    }
    for seller, models in NEW_SELLERS.items():
        if seller not in tokens:
            admin.create_account(seller)
            tokens[seller] = admin.create_key(seller)
        for name, tournament, stake, skill in models:
            admin.create_model(seller, name, tournament=tournament, stake=stake)
            skills[name] = skill
    for buyer in ("hank", "iris"):
        admin.create_account(buyer)
        admin.create_model(buyer, f"{buyer}_slot", stake="20")
        tokens[buyer] = admin.create_key(buyer)
    return tokens, skills


def _register_traders(
    c: Container, tokens: dict[str, str], sellers: list[str]
) -> tuple[dict[str, int], list[DemoLogin]]:
    """NMRX accounts for every seller and buyer: funded, Numerai key linked, sellers collateralised.

    Returns the user id by username and the logins the demo prints."""
    users: dict[str, int] = {}
    logins = []
    for name in [*sellers, *BUYERS]:
        who = accounts.register(c.db, username=name, password=PASSWORD)
        users[name] = who.user_id
        wallet.faucet(
            c.db, user_id=who.user_id, amount=nmr(500), max_amount=nmr(500), request_id="demo-seed"
        )
        public_id, secret = tokens[name].split("$", 1)
        numerai_keys.add_key(c, user_id=who.user_id, public_id=public_id, secret=secret)
        if name in sellers:
            collateral.lock(c, user_id=who.user_id, amount=nmr(60), request_id="demo-seed")
        logins.append(DemoLogin(name, PASSWORD, "seller" if name in sellers else "buyer"))
    return users, logins


def _register_operator(c: Container) -> DemoLogin:
    """An account with the operator role: the console at /operator."""
    accounts.register(c.db, username="operator", password=PASSWORD)
    operator.set_role(c.db, username="operator", operator=True, by="nmrx demo (seed)")
    return DemoLogin("operator", PASSWORD, "operator: /operator")


def _list_ask_ladders(
    c: Container, users: dict[str, int], sellers: list[str], rng: random.Random
) -> None:
    """Every seller's models offered in every open book: a file ladder and a stake ladder.
    Open asks reserve collateral (market-rules §5.1): each seller first locks what their
    ladders in every open book need beyond the collateral seeded, with a book to spare (the
    seeded round's penalties and the books opened after it), from the faucet's test NMR."""
    books = len(instruments.tradable_rounds(c, c.clock.now())) + 1
    for seller in sellers:
        ladders = []
        for m in _models_of(c, users[seller]):
            base = rng.choice([nmr("0.2"), nmr("0.3"), nmr("0.5"), nmr("0.8"), nmr("1.2")])  # units
            ladders.append((m.id, "file", [(2, base), (3, base * 3 // 2)]))
            ladders.append((m.id, "stake", [(100, base // 10), (400, base // 5)]))
        asks = books * sum(q * p for _, _, levels in ladders for q, p in levels)
        needed = seller_requirement(c.collateral_policy, unsettled_notional=asks)
        status = collateral.status(c, user_id=users[seller])
        if needed > status.collateral:
            wallet.faucet(
                c.db,
                user_id=users[seller],
                amount=needed - status.collateral,
                max_amount=needed,
                request_id="demo-seed-ladders",
            )
            collateral.lock(
                c,
                user_id=users[seller],
                amount=needed - status.collateral,
                request_id="demo-seed-ladders",
            )
        for model_id, mode, levels in ladders:
            listings.set_ladder(
                c, user_id=users[seller], model_id=model_id, mode=mode, levels=levels
            )


def _slot(c: Container, user_id: int, tournament: str = "classic") -> int | None:
    return next((m.id for m in _models_of(c, user_id) if m.tournament == tournament), None)


def _trade_and_settle_a_round(
    c: Container,
    admin: EmulatorAdmin,
    users: dict[str, int],
    sellers: list[str],
    rng: random.Random,
) -> None:
    """Buyers buy in the current round; sellers upload; the round closes and is scored and settled."""
    current = instruments.sync_calendar(c).number
    books = {(b.model_id, b.mode): b for b in _open_books(c) if b.round_number == current}
    traded_models = set()
    for (model_id, mode), book in sorted(books.items()):
        if book.best_ask is None or rng.random() < 0.35:
            continue
        buyer = users[rng.choice(BUYERS)]
        slot = _slot(c, buyer) if mode == "stake" else None
        if mode == "stake" and (slot is None or book.tournament != "classic"):
            continue
        qty = rng.choice([1, 2]) if mode == "file" else rng.choice([5, 10, 20])
        orders.place_order(
            c,
            user_id=buyer,
            instrument_id=book.id,
            side="bid",
            quantity=qty,
            price=book.best_ask,
            order_type="ioc",
            client_order_id=f"demo-{book.id}-{buyer}",
            slot_model_id=slot,
        )
        traded_models.add(model_id)
    for seller in sellers:
        for m in _models_of(c, users[seller]):
            if m.id in traded_models or rng.random() < 0.5:
                content = _predictions(c, m.tournament, current, seed=m.id)
                uploads.upload_predictions(
                    c,
                    user_id=users[seller],
                    model_id=m.id,
                    content=content,
                    filename=f"{m.name}.csv",
                    submit_to_own_model=True,
                )
    delivery.run_once(c)
    settlement.reconcile(c)
    admin.advance(to="next_close")
    delivery.run_once(c)
    settlement.reconcile(c)
    instruments.close_books(c)
    admin.advance(days=4)
    settlement.reconcile(c)
    _review_settled_purchases(c, users, traded_models, rng)
    admin.advance(to="next_open")
    instruments.sync_calendar(c)
    instruments.close_books(c)  # the rounds the clock passed: not left to the worker's first tick
    instruments.open_books(c)


REVIEWS = [
    (5, "Delivered on time and the consistency check passed. Ensembles well with mine."),
    (4, "Solid file, arrived early in the round. Would buy again at this price."),
    (3, "Delivered fine; the round's score was average, as the track record suggests."),
]


def _review_settled_purchases(
    c: Container, users: dict[str, int], models: set[int], rng: random.Random
) -> None:
    """Each demo buyer reviews their settled purchases of the traded round, as a buyer would."""
    for buyer in BUYERS:
        for model_id in sorted(models):
            for purchase in reviews.reviewable(c, user_id=users[buyer], model_id=model_id):
                rating, text = rng.choice(REVIEWS)
                if purchase.state != "released":
                    rating, text = (
                        2,
                        "Not delivered as sold; refunded with the penalty, no chasing.",
                    )
                reviews.create_review(
                    c,
                    user_id=users[buyer],
                    model_id=model_id,
                    rating=rating,
                    text=text,
                    fill_id=purchase.fill_id,
                )


def _open_books(c: Container) -> list[InstrumentView]:
    from nmrx.market import data as market_data

    return market_data.list_instruments(c)


def _fresh_bids(c: Container, users: dict[str, int], rng: random.Random) -> None:
    """A few resting bids below the asks in the open books, so both sides show."""
    for book in _open_books(c):
        if book.best_ask is None or book.mode != "file" or rng.random() < 0.6:
            continue
        price = max(10_000, (book.best_ask * 8 // 10) // 10_000 * 10_000)
        buyer = users[rng.choice(BUYERS)]
        try:
            orders.place_order(
                c,
                user_id=buyer,
                instrument_id=book.id,
                side="bid",
                quantity=1,
                price=price,
                client_order_id=f"demo-bid-{book.id}",
            )
        except Exception as exc:  # noqa: BLE001 - a refused demo bid is not worth stopping for
            log.info("demo bid refused: %s", exc)


def _backfill(c: Container, admin: EmulatorAdmin, skills: dict[str, float], rounds: int) -> None:
    """Score history for every model (about a minute), then each model's track record is
    synced at once rather than at the worker's next periodic sync, an hour later."""
    from nmrx.reputation import track_records as performance

    for name, skill in skills.items():
        try:
            if rounds:
                admin.backfill(name, rounds, skill)
        except Exception as exc:  # noqa: BLE001 - the demo goes on without that model's history
            log.warning("history of %s not generated: %s", name, exc)
    with c.db.transaction() as session:
        ids = session.scalars(
            select(NumeraiModel.id).where(NumeraiModel.name.in_(list(skills)))
        ).all()
    for model_id in ids:
        try:
            performance.sync_model(c, model_id=model_id)
        except Exception as exc:  # noqa: BLE001 - the worker's periodic sync retries it
            log.warning("track record of model %s not synced: %s", model_id, exc)
