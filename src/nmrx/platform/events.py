"""The message bus: services publish typed events, handlers react.

Features talk through these events instead of importing each other or appending to
module-level lists: a service publishes what happened; ``platform/bootstrap.py`` — the
one composition root, the same for the app, the worker, the CLI and the tests — decides
who listens. A process therefore behaves the same whatever modules it happened to import.

Two kinds of handler:

* **after commit** (the default): runs once the publishing transaction has committed
  (``publish(event, session=s)`` inside ``db.transaction()`` defers it to the commit, and
  a rollback drops it); published outside a transaction, it runs at once. Its failure
  propagates to the publisher, as a direct call would.
* **in transaction** (``in_transaction=True``): runs inside the publisher's transaction
  with its session, so its writes commit or roll back with the publisher's — for a
  consequence that must never be seen apart from its cause (a moved model and the old
  owner's cancelled asks).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from nmrx.platform.db import after_commit


class Event:
    """Base of every event: a frozen dataclass naming something that happened."""


@dataclass(frozen=True)
class UploadAccepted(Event):
    """A seller's file for (model, round) is stored and is now the current one."""

    upload_id: int
    model_id: int
    round_number: int


@dataclass(frozen=True)
class ModelOwnershipMoved(Event):
    """A model left ``from_user_id`` for ``to_user_id`` (``None``: released)."""

    model_id: int
    from_user_id: int
    to_user_id: int | None
    at: datetime


@dataclass(frozen=True)
class SellerPenalised(Event):
    """A settlement took a penalty from ``user_id``'s collateral (committed)."""

    user_id: int
    at: datetime


@dataclass(frozen=True)
class AccountSuspended(Event):
    """An operator suspended ``user_id``: it may no longer trade, withdraw or log in."""

    user_id: int
    operator_user_id: int
    reason: str
    at: datetime


@dataclass(frozen=True)
class DeliveriesDue(Event):
    """Deliveries of (model, round) point at a new file: submissions and settlement can run."""

    model_id: int
    round_number: int


E = TypeVar("E", bound=Event)
Handler = Callable[[Any], None]
TransactionHandler = Callable[[Session, Any], None]


class MessageBus:
    """Handlers by event type, in the order they were subscribed."""

    def __init__(self) -> None:
        self._after_commit: defaultdict[type[Event], list[Handler]] = defaultdict(list)
        self._in_transaction: defaultdict[type[Event], list[TransactionHandler]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> None:
        """``handler(event)`` after the publishing transaction commits."""
        self._after_commit[event_type].append(handler)

    def subscribe_in_transaction(
        self, event_type: type[E], handler: Callable[[Session, E], None]
    ) -> None:
        """``handler(session, event)`` inside the publishing transaction."""
        self._in_transaction[event_type].append(handler)

    def handlers(self, event_type: type[Event]) -> list[Callable[..., None]]:
        return [*self._in_transaction[event_type], *self._after_commit[event_type]]

    def publish(self, event: Event, *, session: Session | None = None) -> None:
        """Tell every handler of the event's type. ``session``: the open transaction the
        event happened in (needed by in-transaction handlers; defers the others)."""
        in_transaction = self._in_transaction[type(event)]
        if in_transaction and session is None:
            raise RuntimeError(f"{type(event).__name__} must be published inside a transaction")
        for handle_in in in_transaction:
            handle_in(session, event)  # type: ignore[arg-type]
        for handle in self._after_commit[type(event)]:
            if session is None:
                handle(event)
            else:
                after_commit(session, partial(handle, event))
