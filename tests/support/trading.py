"""Trading scenarios for reputation tests: one seller trading round after round, buyers
buying in File or Stake Mode, uploads on time or not, everything settled through the
real services (delivery, settlement) against the emulator."""

from __future__ import annotations

from dataclasses import dataclass, field

from nmrx.delivery import service as delivery
from nmrx.delivery import uploads
from nmrx.platform.bootstrap import Container
from nmrx.settlement import service as settlement
from nmrx.wallet.money import nmr
from numerai_emulator import EmulatorServer
from tests.support.market import Trader, fills_of, instrument, predictions, trader


def run(market: Container) -> None:
    """One worker tick's delivery and settlement duties."""
    delivery.run_once(market)
    settlement.reconcile(market)


@dataclass
class Scenario:
    market: Container
    emulator: EmulatorServer
    seller: Trader
    number: int = 0
    buyers: list[Trader] = field(default_factory=list)

    @classmethod
    def start(cls, market: Container, emulator: EmulatorServer) -> Scenario:
        seller = trader(market, emulator, funds=nmr(200), collateral_nmr=30)
        return cls(market, emulator, seller)

    def next_round(self) -> int:
        self.emulator.world.advance_to_next_open()
        self.number = self.emulator.world.current_round().number
        return self.number

    def book(self, mode: str, model: int = 0) -> int:
        return instrument(
            self.market, model_id=self.seller.model(model), round_number=self.number, mode=mode
        )

    def buyer(self) -> Trader:
        b = trader(self.market, self.emulator, funds=nmr(200))
        self.buyers.append(b)
        return b

    def sell_file(self, buyer: Trader, price: str = "0.5", **kw: object) -> int:
        """The seller asks, the buyer lifts one copy; returns the fill id."""
        book = self.book("file")
        self.seller.place(book, "ask", 1, price)
        buyer.place(book, "bid", 1, price, **kw)
        return fills_of(self.market, book)[-1].id

    def sell_stake(self, buyer: Trader, qty: int = 10, price: str = "0.05") -> int:
        book = self.book("stake")
        self.seller.place(book, "ask", qty, price)
        buyer.place(book, "bid", qty, price, slot_model_id=buyer.model(0))
        return fills_of(self.market, book)[-1].id

    def upload(self, *, own: bool = True, seed: int = 1) -> None:
        uploads.upload_predictions(
            self.market,
            user_id=self.seller.id,
            model_id=self.seller.model(),
            content=predictions(self.emulator, self.number, seed=seed),
            filename="p.csv",
            submit_to_own_model=own,
        )
        run(self.market)

    def close_and_score(self) -> None:
        self.emulator.world.advance_to_next_close()
        run(self.market)
        self.emulator.world.advance_days(4)
        run(self.market)
