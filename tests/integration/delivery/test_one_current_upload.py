"""One current upload per (model, round) (issue 14, finding 9): concurrent re-uploads end
with exactly one current file, and the database refuses a second current row."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from nmrx.delivery import uploads
from nmrx.delivery.tables import PredictionUpload
from nmrx.platform.bootstrap import Container
from numerai_emulator import EmulatorServer
from tests.support.market import predictions, trader


def _current(market: Container, model_id: int, round_number: int) -> list[PredictionUpload]:
    with market.db.transaction() as s:
        return list(
            s.scalars(
                select(PredictionUpload).where(
                    PredictionUpload.model_id == model_id,
                    PredictionUpload.round_number == round_number,
                    PredictionUpload.current.is_(True),
                )
            )
        )


def test_concurrent_reuploads_leave_exactly_one_current(
    market: Container, emulator: EmulatorServer
) -> None:
    emulator.world.advance_to_next_open()
    number = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=30)
    files = [predictions(emulator, number, seed) for seed in range(6)]
    start = threading.Barrier(len(files))
    errors: list[BaseException] = []

    def send(content: bytes) -> None:
        start.wait()
        try:
            uploads.upload_predictions(
                market,
                user_id=seller.id,
                model_id=seller.model(),
                content=content,
                filename="p.csv",
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    current = _current(market, seller.model(), number)
    assert len(current) == 1
    with market.db.transaction() as s:
        newest = s.scalars(
            select(PredictionUpload.id)
            .where(PredictionUpload.model_id == seller.model())
            .order_by(PredictionUpload.id.desc())
        ).first()
    assert current[0].id == newest


def test_the_database_refuses_a_second_current_upload(
    market: Container, emulator: EmulatorServer
) -> None:
    emulator.world.advance_to_next_open()
    number = emulator.world.current_round().number
    seller = trader(market, emulator, collateral_nmr=30)
    uploads.upload_predictions(
        market,
        user_id=seller.id,
        model_id=seller.model(),
        content=predictions(emulator, number, 1),
        filename="p.csv",
    )
    [row] = _current(market, seller.model(), number)
    with pytest.raises(IntegrityError), market.db.transaction() as s:
        s.add(
            PredictionUpload(
                model_id=row.model_id,
                tournament=row.tournament,
                round_number=row.round_number,
                uploader_user_id=row.uploader_user_id,
                storage_key=row.storage_key,
                sha256=row.sha256,
                filename="again.csv",
                format=row.format,
                rows=row.rows,
                size_bytes=row.size_bytes,
                current=True,
            )
        )
