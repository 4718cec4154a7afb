"""The worker: huey tasks and the periodic schedule, thin wrappers over services.

``SqliteHuey`` in the data directory by default (nothing to run besides ``nmrx worker``);
``RedisHuey`` when ``NMRX_REDIS_URL`` is set, for several workers on several machines.
Tasks carry ids only — never a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey, crontab

from nmrx.platform.bootstrap import Container
from nmrx.platform.private_files import private_dir, private_file

log = logging.getLogger("nmrx.worker")


def make_huey(c: Container, *, immediate: bool = False) -> Huey:
    if c.settings.redis_url:
        return RedisHuey("nmrx", url=c.settings.redis_url, immediate=immediate)
    queue = private_file(private_dir(c.settings.data_dir) / "queue.sqlite3")  # 0600, as its WAL
    return SqliteHuey("nmrx", filename=str(queue), immediate=immediate)


def tick(c: Container) -> dict[str, str]:
    """One pass of every periodic duty; each is idempotent and safe to repeat or interrupt."""
    from nmrx.delivery import service as delivery
    from nmrx.delivery import webhooks
    from nmrx.market import instruments
    from nmrx.reputation import discovery
    from nmrx.settlement import service as settlement

    report: dict[str, str] = {}
    duties: list[tuple[str, Callable[[], object]]] = [
        ("open_books", lambda: instruments.open_books(c)),
        ("close_books", lambda: instruments.close_books(c)),
        ("deliveries", lambda: delivery.run_once(c)),
        ("settlement", lambda: settlement.reconcile(c)),
        ("webhooks", lambda: webhooks.send_due(c)),
        ("reputation", lambda: discovery.tick(c)),
    ]
    for name, duty in duties:
        try:
            report[name] = str(duty())
        except Exception as exc:  # one failing duty must not stop the others
            log.exception("worker duty %s failed", name)
            report[name] = f"error: {type(exc).__name__}: {exc}"
    return report


class Worker:
    """The tasks, registered on one huey instance; the app enqueues, ``nmrx worker`` consumes."""

    def __init__(self, c: Container, *, immediate: bool = False) -> None:
        from nmrx.delivery import service as delivery
        from nmrx.delivery import webhooks
        from nmrx.settlement import service as settlement

        self.container = c
        self.huey = make_huey(c, immediate=immediate)
        huey = self.huey

        @huey.task(name="nmrx.deliver", retries=2, retry_delay=5)
        def deliver(delivery_id: int) -> None:
            delivery.submit(c, delivery_id=delivery_id)

        @huey.task(name="nmrx.process_deliveries")
        def process_deliveries() -> int:
            """Woken by an upload: submit what is due, then settle what the upload delivered."""
            submitted = delivery.process_due(c)
            settlement.reconcile(c)
            return submitted

        @huey.task(name="nmrx.send_webhook")
        def send_webhook(call_id: int) -> None:
            webhooks.send(c, call_id=call_id)

        @huey.periodic_task(crontab(minute="*"), name="nmrx.tick")
        def periodic_tick() -> dict[str, str]:
            return tick(c)

        @huey.task(name="nmrx.tick_now")
        def tick_now() -> dict[str, str]:
            return tick(c)

        self.deliver = deliver
        self.process_deliveries = process_deliveries
        self.send_webhook = send_webhook
        self.tick_now = tick_now

    def consumer(self, workers: int = 2, shutdown_timeout: float | None = None) -> Any:
        return self.huey.create_consumer(
            workers=workers,
            worker_type="thread",
            periodic=True,
            shutdown_timeout=shutdown_timeout,
        )
