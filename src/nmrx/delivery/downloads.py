"""Downloads of purchased files (File Mode only): short-lived signed links, only for the
buyer, only for the purchased round, every download logged. Stake Mode files never leave."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from nmrx.delivery.rules import DeliveryKind, DeliveryState
from nmrx.delivery.tables import Delivery, DownloadLog, PredictionUpload
from nmrx.market.tables import Fill, Instrument
from nmrx.platform.bootstrap import Container
from nmrx.platform.clock import Clock
from nmrx.platform.errors import Conflict, Forbidden, NotFound
from nmrx.platform.filenames import safe_filename
from nmrx.sellers.tables import NumeraiModel


@dataclass(frozen=True)
class DownloadLink:
    url: str
    expires_in: int
    filename: str


@dataclass(frozen=True)
class DownloadedFile:
    content: bytes
    filename: str
    sha256: str
    media_type: str


class _ClockSigner(TimestampSigner):
    """Stamps a link, and checks its age, with the platform clock instead of the wall clock."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock.now().timestamp())


def _signer(c: Container) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        c.settings.signing_key,
        salt="nmrx-download-link",
        signer=_ClockSigner,
        signer_kwargs={"clock": c.clock},
    )


def _filename(model: str, round_number: int, fmt: str) -> str:
    """The purchased file's name: a safe base name whatever the model is called (clients
    save under it)."""
    ext = "parquet" if fmt == "parquet" else "csv"
    return safe_filename(f"{model}_round{round_number}.{ext}", default=f"round{round_number}.{ext}")


def _download_delivery(
    session: Session, user_id: int, fill_id: int
) -> tuple[Delivery, Fill, Instrument]:
    fill = session.get(Fill, fill_id)
    if fill is None or fill.buyer_user_id != user_id:
        raise NotFound(f"no purchase {fill_id} of yours")
    instrument = session.get_one(Instrument, fill.instrument_id)
    if instrument.mode == "stake":
        raise Forbidden(
            "Stake Mode purchases are submitted to your slot; the file itself is never downloadable "
            "(the seller's IP protection)"
        )
    delivery = session.scalars(
        select(Delivery).where(
            Delivery.fill_id == fill_id, Delivery.kind == DeliveryKind.DOWNLOAD.value
        )
    ).first()
    if delivery is None or delivery.state != DeliveryState.DELIVERED or delivery.upload_id is None:
        raise Conflict("the seller has not uploaded this round's file yet")
    return delivery, fill, instrument


def create_link(c: Container, *, user_id: int, fill_id: int, base_url: str = "") -> DownloadLink:
    with c.db.transaction() as session:
        delivery, _fill, instrument = _download_delivery(session, user_id, fill_id)
        upload = session.get_one(PredictionUpload, delivery.upload_id)
        model = session.get_one(NumeraiModel, instrument.model_id)
        name = _filename(model.name, instrument.round_number, upload.format)
    token = _signer(c).dumps({"f": fill_id, "u": user_id})
    return DownloadLink(
        f"{base_url}/api/v1/downloads/{token}", c.settings.download_link_ttl_seconds, name
    )


def fetch(c: Container, *, user_id: int, token: str) -> DownloadedFile:
    try:
        data = _signer(c).loads(token, max_age=c.settings.download_link_ttl_seconds)
    except SignatureExpired:
        raise Forbidden("this download link has expired; ask for a new one") from None
    except BadSignature:
        raise NotFound("no such download link") from None
    if data.get("u") != user_id:
        raise Forbidden("this download link belongs to another account")
    with c.db.transaction() as session:
        delivery, _fill, instrument = _download_delivery(session, user_id, int(data["f"]))
        upload = session.get(PredictionUpload, delivery.upload_id)
        model = session.get(NumeraiModel, instrument.model_id)
        assert upload is not None and model is not None
        session.add(
            DownloadLog(
                delivery_id=delivery.id, user_id=user_id, upload_id=upload.id, sha256=upload.sha256
            )
        )
        storage_key, sha, fmt, name = upload.storage_key, upload.sha256, upload.format, model.name
        round_number = instrument.round_number
    content = c.files.get(storage_key)
    return DownloadedFile(
        content=content,
        filename=_filename(name, round_number, fmt),
        sha256=sha,
        media_type="application/octet-stream" if fmt == "parquet" else "text/csv",
    )
