"""Migration 0009 (issue 14, finding 9): duplicates of "current" left by the old race are
repaired (the newest upload stays current) before the unique index is added."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from nmrx.accounts.tables import User
from nmrx.delivery.tables import PredictionUpload
from nmrx.platform.migrate import upgrade
from nmrx.sellers.tables import NumeraiModel
from tests.integration.platform.test_migrations import empty_engine  # noqa: F401 - fixture


def test_the_upgrade_keeps_the_newest_current_upload(empty_engine: Engine) -> None:  # noqa: F811
    upgrade(empty_engine, "0008")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    with Session(empty_engine) as s, s.begin():
        user = User(username="seller", password_hash="x", created_at=when)
        s.add(user)
        s.flush()
        models = [
            NumeraiModel(
                numerai_id=f"m{i}", name=f"m{i}", tournament="classic", owner_user_id=user.id
            )
            for i in range(2)
        ]
        s.add_all(models)
        s.flush()
        for model, round_number, count in (
            (models[0], 900, 4),
            (models[0], 901, 1),
            (models[1], 900, 2),
        ):
            for n in range(count):
                s.add(
                    PredictionUpload(
                        model_id=model.id,
                        tournament="classic",
                        round_number=round_number,
                        uploader_user_id=user.id,
                        storage_key=f"k{model.id}{round_number}{n}",
                        sha256="0" * 64,
                        filename="p.csv",
                        format="csv",
                        rows=1,
                        size_bytes=1,
                        current=True,
                        created_at=when,
                    )
                )
                s.flush()
    upgrade(empty_engine)
    with Session(empty_engine) as s:
        rows = s.execute(
            select(
                PredictionUpload.model_id,
                PredictionUpload.round_number,
                PredictionUpload.id,
                PredictionUpload.current,
                PredictionUpload.replaced_at,
            ).order_by(PredictionUpload.id)
        ).all()
    current = {(m, r): i for m, r, i, cur, _ in rows if cur}
    newest: dict[tuple[int, int], int] = {}
    for m, r, i, _, _ in rows:
        newest[m, r] = max(newest.get((m, r), 0), i)
    assert current == newest and len(current) == 3
    assert all(replaced is not None for *_, cur, replaced in rows if not cur)
