"""The composition root: the app, the worker, the CLI and the tests all start here."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nmrx.adapters.db import ledger as ledger_db
from nmrx.adapters.db.engine import Database, make_engine
from nmrx.adapters.db.migrate import upgrade
from nmrx.config import Settings

log = logging.getLogger("nmrx")


@dataclass
class Container:
    settings: Settings
    db: Database

    def close(self) -> None:
        self.db.dispose()


def bootstrap(settings: Settings | None = None, *, migrate: bool = True) -> Container:
    settings = settings or Settings()
    db = Database(make_engine(settings.effective_database_url))
    if migrate:
        upgrade(db.engine)
        with db.transaction() as session:
            ledger_db.open_platform_accounts(session)
    return Container(settings=settings, db=db)
