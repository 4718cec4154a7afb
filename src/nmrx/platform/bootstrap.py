"""The composition root: the app, the worker, the CLI and the tests all start here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from nmrx.platform.clock import Clock, EmulatorClock, SystemClock
from nmrx.platform.config import Settings
from nmrx.platform.crypto import SecretBox
from nmrx.platform.db import Database, make_engine
from nmrx.platform.migrate import upgrade
from nmrx.platform.numerai import NumeraiGateway
from nmrx.platform.storage import ContentStore, LocalEncryptedStore
from nmrx.sellers.rules import CollateralPolicy
from nmrx.wallet import repo as ledger_db

log = logging.getLogger("nmrx")


@dataclass
class Container:
    settings: Settings
    db: Database
    numerai: NumeraiGateway
    key_box: SecretBox
    clock: Clock
    files: ContentStore
    # Set by the app to enqueue a worker task; a no-op where no worker listens (tests call services).
    wake_worker: Callable[[], object] = field(default=lambda: None)

    @property
    def collateral_policy(self) -> CollateralPolicy:
        return CollateralPolicy(
            minimum=self.settings.seller_collateral_minimum_units,
            rate_bp=self.settings.seller_collateral_rate_bp,
        )

    def close(self) -> None:
        self.db.dispose()


def bootstrap(settings: Settings | None = None, *, migrate: bool = True) -> Container:
    settings = settings or Settings()
    from nmrx.market import service as orders  # noqa: F401  (registers the order book's ownership hook)

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
    )
    return Container(
        settings=settings,
        db=db,
        numerai=numerai,
        key_box=SecretBox(settings.secret_key, "numerai-api-key"),
        clock=make_clock(settings),
        files=LocalEncryptedStore(
            settings.data_dir / "files", SecretBox(settings.secret_key, "files")
        ),
    )


def make_clock(settings: Settings) -> Clock:
    if settings.clock == "emulator":
        return EmulatorClock(settings.numerai_api_url, settings.emulator_admin_token)
    return SystemClock()
