"""The worker consumes real queues: SqliteHuey (embedded default) and RedisHuey (CI's Redis).

Every test of the Redis queue (named "nmrx") lives in this file: `make test` runs a file's
tests in one process (`--dist loadfile`), so two of them never share the queue at once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from huey import RedisHuey, SqliteHuey
from huey.storage import RedisStorage, SqliteStorage
from redis.connection import parse_url
from sqlalchemy import select

from nmrx.delivery import uploads
from nmrx.delivery.tables import Delivery
from nmrx.market.tables import Fill
from nmrx.platform.bootstrap import Container, bootstrap
from nmrx.worker import Worker
from numerai_emulator import EmulatorServer
from tests.conftest import IN_CI
from tests.support.market import fills_of, instrument, predictions, trader

REDIS_URL = os.environ.get("NMRX_TEST_REDIS_URL", "")
QUEUES = ["sqlite"] + (["redis"] if REDIS_URL else [])
if IN_CI and not REDIS_URL:
    raise RuntimeError("CI=true but NMRX_TEST_REDIS_URL is not set: the RedisHuey tests must run")


@pytest.fixture(params=QUEUES)
def worker(request: pytest.FixtureRequest, market: Container) -> Iterator[Worker]:
    """The queue of a process bootstrapped as the app is (``queue=True``), on the market's
    database; its consumer runs in threads, as ``nmrx worker`` would."""
    if request.param == "redis":
        market.settings.redis_url = REDIS_URL
    queued = bootstrap(market.settings, migrate=False, queue=True)
    w = queued.worker
    assert w is not None
    w.huey.flush()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    consumer = w.consumer(workers=2)
    consumer.start()
    yield w
    consumer.stop(graceful=True)
    for s, h in handlers.items():
        signal.signal(s, h)
    w.huey.flush()
    queued.close()


def test_the_worker_uses_the_queue_the_settings_ask_for(
    request: pytest.FixtureRequest, market: Container, worker: Worker
) -> None:
    queue = request.node.callspec.params["worker"]
    if queue == "redis":
        # NMRX_REDIS_URL set: RedisHuey on that server, not the embedded SQLite queue.
        assert type(worker.huey) is RedisHuey, type(worker.huey)
        assert isinstance(worker.huey.storage, RedisStorage)
        wanted = parse_url(REDIS_URL)
        kwargs = worker.huey.storage.pool.connection_kwargs
        assert {k: kwargs.get(k) for k in ("host", "port", "db")} == {
            "host": wanted.get("host"),
            "port": wanted.get("port", 6379),
            "db": wanted.get("db", 0),
        }
        assert worker.huey.storage.conn.ping()
    else:
        assert queue == "sqlite" and not market.settings.redis_url
        assert type(worker.huey) is SqliteHuey, type(worker.huey)
        assert isinstance(worker.huey.storage, SqliteStorage)
        assert worker.huey.storage.filename == str(market.settings.data_dir / "queue.sqlite3")
    assert worker.huey.name == "nmrx"


def wait_for(check, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_an_upload_wakes_the_worker_which_submits_to_the_slot(
    market: Container, emulator: EmulatorServer, worker: Worker
) -> None:
    emulator.world.advance_to_next_open()
    round_number = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=20)
    buyer = trader(market, emulator)
    stake = instrument(market, model_id=seller.model(), round_number=round_number, mode="stake")
    seller.place(stake, "ask", 50, "0.02")
    buyer.place(stake, "bid", 5, "0.02", slot_model_id=buyer.model(0))
    fill = fills_of(market, stake)[0]
    content = predictions(emulator, round_number, seed=21)
    uploads.upload_predictions(  # in the app's process: it enqueues, the worker consumes
        worker.container,
        user_id=seller.id,
        model_id=seller.model(),
        content=content,
        filename="p.csv",
    )

    def delivered() -> bool:
        with market.db.transaction() as s:
            d = s.scalars(select(Delivery).where(Delivery.fill_id == fill.id)).first()
            return d is not None and d.state == "delivered"

    assert wait_for(delivered), "the worker did not deliver the submission"
    slot_id = buyer.numerai.model_id(buyer.numerai.classic[0])
    with market.db.transaction() as s:
        nonce = s.scalars(select(Delivery.nonce).where(Delivery.fill_id == fill.id)).one()
    assert nonce in emulator.world.selected_submission(slot_id, round_number).filename
    # The delivery is a settlement event: the fill moves at once, not at the next tick.
    assert wait_for(lambda: fill_state(market, fill.id) == "delivered"), fill_state(market, fill.id)


def fill_state(market: Container, fill_id: int) -> str:
    with market.db.transaction() as s:
        return s.scalars(select(Fill.state).where(Fill.id == fill_id)).one()


def test_an_upload_wakes_the_worker_which_releases_file_mode_sales(
    market: Container, emulator: EmulatorServer, worker: Worker
) -> None:
    emulator.world.advance_to_next_open()
    round_number = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=20)
    buyer = trader(market, emulator)
    book = instrument(market, model_id=seller.model(), round_number=round_number, mode="file")
    seller.place(book, "ask", 2, "0.3")
    buyer.place(book, "bid", 1, "0.3")
    fill = fills_of(market, book)[0]
    assert fill_state(market, fill.id) == "pending_delivery"
    uploads.upload_predictions(
        worker.container,
        user_id=seller.id,
        model_id=seller.model(),
        content=predictions(emulator, round_number, seed=5),
        filename="p.csv",
    )
    assert wait_for(lambda: fill_state(market, fill.id) == "released"), fill_state(market, fill.id)


def test_the_tick_task_runs_every_duty(
    market: Container, emulator: EmulatorServer, worker: Worker
) -> None:
    result = worker.tick_now()
    report = result.get(blocking=True, timeout=120)  # a ceiling, not a speed check
    assert set(report) == {
        "open_books",
        "close_books",
        "deliveries",
        "settlement",
        "webhooks",
        "reputation",
    }
    assert not any(v.startswith("error") for v in report.values()), report


def test_the_demo_clock_runs_every_duty_through_the_containers_port(market: Container) -> None:
    from nmrx.demo import control

    report = control.advance(market, to="days", days=0.001)
    assert set(report.duties) == {
        "open_books",
        "close_books",
        "deliveries",
        "settlement",
        "webhooks",
        "reputation",
    }
    assert not any(v.startswith("error") for v in report.duties.values()), report.duties
