"""The message bus: when handlers run relative to the publishing transaction, and what
bootstrap wires."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from nmrx.platform.bootstrap import Container
from nmrx.platform.db import Database, make_engine
from nmrx.platform.events import (
    DeliveriesDue,
    MessageBus,
    ModelOwnershipMoved,
    UploadAccepted,
)

MOVED = ModelOwnershipMoved(
    model_id=1, from_user_id=2, to_user_id=3, at=datetime(2026, 1, 1, tzinfo=UTC)
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(make_engine(f"sqlite:///{tmp_path / 'bus.sqlite3'}"))
    with database.transaction() as s:
        s.execute(text("CREATE TABLE seen (what TEXT)"))
    yield database
    database.dispose()


def rows(db: Database) -> list[str]:
    with db.transaction() as s:
        return list(s.scalars(text("SELECT what FROM seen ORDER BY rowid")))


def test_an_after_commit_handler_runs_once_the_transaction_has_committed(db: Database) -> None:
    bus, seen = MessageBus(), []
    bus.subscribe(UploadAccepted, lambda e: seen.append((e.upload_id, rows(db))))
    with db.transaction() as s:
        s.execute(text("INSERT INTO seen VALUES ('upload')"))
        bus.publish(UploadAccepted(7, 1, 500), session=s)
        assert seen == []  # not yet: the transaction is still open
    assert seen == [(7, ["upload"])]  # and it sees what the publisher committed


def test_a_rolled_back_transaction_tells_no_after_commit_handler(db: Database) -> None:
    bus, seen = MessageBus(), []
    bus.subscribe(UploadAccepted, seen.append)
    with pytest.raises(RuntimeError, match="boom"), db.transaction() as s:
        bus.publish(UploadAccepted(7, 1, 500), session=s)
        raise RuntimeError("boom")
    assert seen == []


def test_an_in_transaction_handler_commits_or_rolls_back_with_the_publisher(db: Database) -> None:
    bus = MessageBus()
    bus.subscribe_in_transaction(
        ModelOwnershipMoved,
        lambda s, e: s.execute(text(f"INSERT INTO seen VALUES ('{e.model_id}')")),
    )
    with pytest.raises(RuntimeError), db.transaction() as s:
        bus.publish(MOVED, session=s)
        raise RuntimeError("the move failed")
    assert rows(db) == []
    with db.transaction() as s:
        bus.publish(MOVED, session=s)
    assert rows(db) == ["1"]


def test_an_in_transaction_event_cannot_be_published_outside_one() -> None:
    bus = MessageBus()
    bus.subscribe_in_transaction(ModelOwnershipMoved, lambda s, e: None)
    with pytest.raises(RuntimeError, match="inside a transaction"):
        bus.publish(MOVED)


def test_published_outside_a_transaction_a_handler_runs_at_once() -> None:
    bus, seen = MessageBus(), []
    bus.subscribe(DeliveriesDue, seen.append)
    bus.subscribe(DeliveriesDue, lambda e: seen.append("second"))
    bus.publish(DeliveriesDue(1, 500))
    assert seen == [DeliveriesDue(1, 500), "second"]  # in the order they subscribed
    bus.publish(UploadAccepted(1, 1, 500))  # nobody listens: nothing happens
    assert len(seen) == 2


def test_bootstrap_wires_uploads_and_ownership_moves_and_no_queue_by_default(
    container: Container,
) -> None:
    assert len(container.bus.handlers(UploadAccepted)) == 1
    assert len(container.bus.handlers(ModelOwnershipMoved)) == 1
    # services run inline (the tests, `nmrx settle`): nothing is enqueued for a worker
    assert container.worker is None and container.bus.handlers(DeliveriesDue) == []
