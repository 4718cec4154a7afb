"""The composition root: the app, the worker, the CLI and the tests all start here.

``bootstrap`` builds the adapters and registers every event handler (``register_handlers``),
so a process behaves the same whatever modules it imported: features publish events
(``platform/events.py``) and never find each other through import-time side effects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nmrx.platform.clock import Clock, EmulatorClock, SystemClock
from nmrx.platform.config import Settings
from nmrx.platform.crypto import SecretBox
from nmrx.platform.db import Database, make_engine
from nmrx.platform.events import (
    AccountSuspended,
    DeliveriesDue,
    MessageBus,
    ModelOwnershipMoved,
    SellerPenalised,
    UploadAccepted,
)
from nmrx.platform.migrate import upgrade
from nmrx.platform.numerai import NumeraiGateway
from nmrx.platform.private_files import private_dir, private_temp
from nmrx.platform.storage import ContentStore, LocalEncryptedStore
from nmrx.sellers.rules import CollateralPolicy
from nmrx.wallet import repo as ledger_db

if TYPE_CHECKING:
    from nmrx.platform.rate_limit import RateLimiter
    from nmrx.worker import Worker

log = logging.getLogger("nmrx")


@dataclass
class Container:
    settings: Settings
    db: Database
    numerai: NumeraiGateway
    key_box: SecretBox
    clock: Clock
    files: ContentStore
    rate_limiter: RateLimiter
    bus: MessageBus = field(default_factory=MessageBus)
    # The worker's queue when this process hands background work to it (``queue=True``:
    # the app, ``nmrx demo``, ``nmrx worker``); None where services run it inline (tests).
    worker: Worker | None = None

    @property
    def collateral_policy(self) -> CollateralPolicy:
        return CollateralPolicy(
            minimum=self.settings.seller_collateral_minimum_units,
            rate_bp=self.settings.seller_collateral_rate_bp,
        )

    def run_duties(self) -> dict[str, str]:
        """Every periodic duty of the worker once, now, in this process (the demo clock)."""
        from nmrx.worker import tick

        return tick(self)

    def close(self) -> None:
        self.db.dispose()
        self.rate_limiter.close()


def bootstrap(
    settings: Settings | None = None, *, migrate: bool = True, queue: bool = False
) -> Container:
    """The application's parts, wired. ``queue``: hand background work (submitting what an
    upload made due) to the worker's queue instead of leaving it to the next tick."""
    from nmrx.platform.rate_limit import RateLimiter  # it imports the API's dependencies

    settings = settings or Settings()
    db = Database(make_engine(settings.effective_database_url))
    if migrate:
        upgrade(db.engine)
        with db.transaction() as session:
            ledger_db.open_platform_accounts(session)
    numerai = NumeraiGateway(
        settings.numerai_api_url,
        timeout=settings.numerai_timeout_seconds,
        retries=settings.numerai_retries,
        backoff=settings.numerai_backoff_seconds,
        temp_dir=private_temp(private_dir(settings.data_dir)),  # 0700, a crash's files removed
    )
    c = Container(
        settings=settings,
        db=db,
        numerai=numerai,
        key_box=SecretBox(settings.encryption_ring, "numerai-api-key"),
        clock=make_clock(settings),
        files=LocalEncryptedStore(
            settings.data_dir / "files", SecretBox(settings.encryption_ring, "files")
        ),
        rate_limiter=RateLimiter.from_settings(settings),
    )
    if queue:
        from nmrx.worker import Worker

        c.worker = Worker(c)
    register_handlers(c)
    return c


def register_handlers(c: Container) -> None:
    """Who listens to which event: the one place features are wired to each other."""
    from nmrx.delivery import service as delivery
    from nmrx.market import service as market

    # A moved or released model: its old owner's asks go, in the move's own transaction.
    c.bus.subscribe_in_transaction(
        ModelOwnershipMoved, lambda session, e: market.cancel_asks_of_owner(session, e)
    )
    # A suspended account: its open orders go (holds voided) in the suspension's transaction.
    c.bus.subscribe_in_transaction(
        AccountSuspended, lambda session, e: market.cancel_orders_of_suspended(session, e)
    )
    # A penalty took collateral: the seller's asks it no longer covers go (market-rules §5.1).
    c.bus.subscribe(SellerPenalised, lambda e: market.withdraw_uncovered_asks(c, e))
    # A new file: every buyer of (model, round) is pointed at it (downloads are delivered).
    c.bus.subscribe(UploadAccepted, lambda e: delivery.on_upload(c, e))
    # Submissions and settlement happen in the worker, not in the request that uploaded.
    worker = c.worker
    if worker is not None:
        c.bus.subscribe(DeliveriesDue, lambda e: worker.process_deliveries())


def make_clock(settings: Settings) -> Clock:
    if settings.clock == "emulator":
        return EmulatorClock(settings.numerai_api_url, settings.emulator_admin_token)
    return SystemClock()
