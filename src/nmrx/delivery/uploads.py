"""Seller uploads: one predictions file per model and round, validated against the round's
live universe, fingerprinted, stored encrypted; re-uploading before the deadline replaces it."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from threading import Lock

from sqlalchemy import select
from sqlalchemy.orm import Session

from nmrx.delivery.predictions import InvalidPredictions, validate
from nmrx.delivery.rules import upload_deadline
from nmrx.delivery.tables import PredictionUpload
from nmrx.platform.bootstrap import Container
from nmrx.platform.db import locked
from nmrx.platform.errors import Conflict, InvalidInput, NotFound, Unavailable
from nmrx.platform.events import UploadAccepted
from nmrx.platform.filenames import safe_filename
from nmrx.platform.numerai import NumeraiError, NumeraiUnavailable, RoundInfo
from nmrx.platform.storage import fingerprint
from nmrx.platform.tables import AuditEvent
from nmrx.sellers import numerai_keys
from nmrx.sellers.tables import NumeraiModel

log = logging.getLogger("nmrx.uploads")


@dataclass(frozen=True)
class UploadInfo:
    id: int
    model: str
    tournament: str
    round_number: int
    sha256: str
    filename: str
    format: str
    rows: int
    size_bytes: int
    created_at: datetime
    replaced: bool
    own_submission_id: str | None
    own_submission_error: str | None


class _UniverseCache:
    """Live universes by (tournament, round); a round's universe never changes."""

    def __init__(self, size: int = 8) -> None:
        self._items: OrderedDict[tuple[str, int], list[str]] = OrderedDict()
        self._lock = Lock()
        self.size = size

    def get(self, c: Container, tournament: str, round_number: int) -> list[str]:
        key = (tournament, round_number)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        universe = c.numerai.live_universe(tournament, round_number)
        with self._lock:
            self._items[key] = universe
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return universe


UNIVERSES = _UniverseCache()


def upload_window(round_info: RoundInfo, margin_minutes: int) -> tuple[datetime, datetime]:
    return round_info.open_time, upload_deadline(round_info.close_time, margin_minutes)


def _info(session: Session, row: PredictionUpload) -> UploadInfo:
    model = session.get(NumeraiModel, row.model_id)
    return UploadInfo(
        id=row.id,
        model=model.name if model else "?",
        tournament=row.tournament,
        round_number=row.round_number,
        sha256=row.sha256,
        filename=row.filename,
        format=row.format,
        rows=row.rows,
        size_bytes=row.size_bytes,
        created_at=row.created_at,
        replaced=not row.current,
        own_submission_id=row.own_submission_id,
        own_submission_error=row.own_submission_error,
    )


def _owned_model(session: Session, user_id: int, model_id: int) -> NumeraiModel:
    model = session.get(NumeraiModel, model_id)
    if model is None or model.owner_user_id != user_id:
        raise NotFound(f"you are not the verified owner of model {model_id}")
    return model


def upload_predictions(
    c: Container,
    *,
    user_id: int,
    model_id: int,
    content: bytes,
    filename: str,
    submit_to_own_model: bool = False,
) -> UploadInfo:
    """Validate and store the round's file for a model the user owns. Refusals store nothing.
    Once stored (and sent to the seller's own model if asked), ``UploadAccepted`` is published."""
    default = "predictions.parquet" if content[:4] == b"PAR1" else "predictions.csv"
    name = safe_filename(filename, default=default)  # stored, shown, and given to numerapi
    with c.db.transaction() as session:
        model = _owned_model(session, user_id, model_id)
        tournament, model_numerai_id = model.tournament, model.numerai_id
    try:
        round_info = c.numerai.current_round(tournament)
    except NumeraiUnavailable:
        raise Unavailable(
            "Numerai is unavailable, so the round cannot be checked; nothing was stored, try again"
        ) from None
    now = c.clock.now()
    opens, closes = upload_window(round_info, c.settings.upload_margin_minutes)
    if not opens <= now < closes:
        raise Conflict(
            f"uploads for round {round_info.number} are closed: the window was "
            f"{opens:%Y-%m-%d %H:%M} to {closes:%Y-%m-%d %H:%M} UTC "
            f"({c.settings.upload_margin_minutes} minutes before the round closes)"
        )
    try:
        universe = UNIVERSES.get(c, tournament, round_info.number)
    except NumeraiUnavailable:
        raise Unavailable(
            "Numerai is unavailable, so the live universe cannot be read; nothing was stored"
        ) from None
    try:
        valid = validate(content, name, universe=universe, tournament=tournament)
    except InvalidPredictions as exc:
        raise InvalidInput(f"the file was refused: {exc}") from None
    storage_key = c.files.put(content)
    try:
        with c.db.transaction() as session:
            # re-uploads of one model wait for each other here: the newest ends current
            session.execute(locked(select(NumeraiModel.id).where(NumeraiModel.id == model_id)))
            for previous in session.scalars(
                select(PredictionUpload).where(
                    PredictionUpload.model_id == model_id,
                    PredictionUpload.round_number == round_info.number,
                    PredictionUpload.current.is_(True),
                )
            ):
                previous.current = False
                previous.replaced_at = now
            row = PredictionUpload(
                model_id=model_id,
                tournament=tournament,
                round_number=round_info.number,
                uploader_user_id=user_id,
                storage_key=storage_key,
                sha256=fingerprint(content),
                filename=name,
                format=valid.format,
                rows=valid.rows,
                size_bytes=len(content),
            )
            session.flush()  # the replaced rows first: one current upload (the index)
            session.add(row)
            session.flush()
            session.add(
                AuditEvent(
                    actor_user_id=user_id,
                    action="upload.accept",
                    subject=f"upload:{row.id}",
                    detail=row.sha256,
                )
            )
            upload_id = row.id
    except Exception:
        c.files.delete(storage_key)
        raise
    if submit_to_own_model:
        _submit_to_own_model(c, upload_id, user_id, model_numerai_id, tournament, content, name)
    c.bus.publish(UploadAccepted(upload_id, model_id, round_info.number))
    with c.db.transaction() as session:
        return _info(session, session.get_one(PredictionUpload, upload_id))


def _submit_to_own_model(
    c: Container,
    upload_id: int,
    user_id: int,
    numerai_model_id: str,
    tournament: str,
    content: bytes,
    name: str,
) -> None:
    with c.db.transaction() as session:
        key = numerai_keys.key_for_model(
            c, session, user_id=user_id, numerai_model_id=numerai_model_id
        )
    submission_id, error = None, None
    if key is None:
        error = "no Numerai key of yours reaches this model: add one on the Numerai keys page"
    else:
        try:
            submission_id = c.numerai.upload(
                key,
                model_id=numerai_model_id,
                tournament=tournament,
                content=content,
                filename=name,
            )
        except NumeraiError as exc:
            error = f"{exc.kind}: {exc.message}"
    with c.db.transaction() as session:
        row = session.get(PredictionUpload, upload_id)
        assert row is not None
        row.own_submission_id, row.own_submission_error = submission_id, error


def current_upload(
    session: Session, *, model_id: int, round_number: int
) -> PredictionUpload | None:
    return session.scalars(
        select(PredictionUpload).where(
            PredictionUpload.model_id == model_id,
            PredictionUpload.round_number == round_number,
            PredictionUpload.current.is_(True),
        )
    ).first()


def list_uploads(c: Container, *, user_id: int, model_id: int | None = None) -> list[UploadInfo]:
    with c.db.transaction() as session:
        query = select(PredictionUpload).where(PredictionUpload.uploader_user_id == user_id)
        if model_id is not None:
            query = query.where(PredictionUpload.model_id == model_id)
        rows = session.scalars(query.order_by(PredictionUpload.id.desc()).limit(200)).all()
        return [_info(session, r) for r in rows]
