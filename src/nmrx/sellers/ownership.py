"""Model ownership: bio-code verification, binding, moves between accounts, release."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from nmrx.accounts.rules import username_key
from nmrx.accounts.tables import User
from nmrx.platform.errors import Conflict, InvalidInput, NotFound, Unavailable
from nmrx.platform.events import ModelOwnershipMoved
from nmrx.platform.numerai import TOURNAMENTS, ModelRef, NumeraiNotFound, NumeraiUnavailable
from nmrx.platform.tables import AuditEvent
from nmrx.sellers.rules import OUTCOME_MESSAGES, CheckOutcome, PendingCode, judge_bio, new_code
from nmrx.sellers.tables import NumeraiModel, OwnershipCode, OwnershipMove

if TYPE_CHECKING:  # avoids an import cycle with bootstrap
    from nmrx.platform.bootstrap import Container


@dataclass(frozen=True)
class CodeInfo:
    id: int
    model_name: str
    tournament: str
    code: str
    expires_at: datetime
    used: bool


@dataclass(frozen=True)
class ModelInfo:
    id: int
    numerai_id: str
    name: str
    tournament: str
    owner: str | None
    verified_at: datetime | None
    verified_via: str | None
    has_key: bool


@dataclass(frozen=True)
class CheckResult:
    outcome: CheckOutcome
    message: str
    model: ModelInfo | None


def _tournament(tournament: str) -> str:
    t = (tournament or "classic").strip().lower()
    if t not in TOURNAMENTS:
        raise InvalidInput("tournament must be 'classic' or 'signals'")
    return t


def request_code(
    c: Container, *, user_id: int, model_name: str, tournament: str = "classic"
) -> CodeInfo:
    """Issue a one-time code for a model that exists on Numerai."""
    t = _tournament(tournament)
    name = (model_name or "").strip().lower()
    if not name or len(name) > 80:
        raise InvalidInput("give the model's name as it appears on Numerai")
    try:
        profile = c.numerai.model_profile(name, t)
    except NumeraiNotFound:
        raise NotFound(f"no {t} model named '{name}' on Numerai") from None
    except NumeraiUnavailable:
        raise Unavailable(
            "Numerai is unavailable right now; no code was issued, try again later"
        ) from None
    ttl = timedelta(hours=c.settings.ownership_code_ttl_hours)
    with c.db.transaction() as session:
        row = OwnershipCode(
            user_id=user_id,
            model_name=profile.name,
            tournament=t,
            code=new_code(),
            expires_at=c.clock.now() + ttl,
        )
        session.add(row)
        session.flush()
        session.add(
            AuditEvent(
                actor_user_id=user_id,
                action="ownership.code",
                subject=f"code:{row.id}",
                detail=f"{t}/{profile.name}",
            )
        )
        return _code_info(row)


def _code_info(row: OwnershipCode) -> CodeInfo:
    return CodeInfo(
        row.id, row.model_name, row.tournament, row.code, row.expires_at, row.used_at is not None
    )


def list_codes(c: Container, *, user_id: int) -> list[CodeInfo]:
    with c.db.transaction() as session:
        rows = session.scalars(
            select(OwnershipCode)
            .where(OwnershipCode.user_id == user_id)
            .order_by(OwnershipCode.id.desc())
        ).all()
        return [_code_info(r) for r in rows]


def check_code(
    c: Container, *, user_id: int, code_id: int, now: datetime | None = None
) -> CheckResult:
    """Read the model's bio; bind the model if the code is there and valid. Failures change nothing."""
    with c.db.transaction() as session:
        row = session.get(OwnershipCode, code_id)
        if row is None or row.user_id != user_id:
            raise NotFound(f"no verification code {code_id} on your account")
        pending = PendingCode(row.code, row.expires_at, row.used_at is not None)
        name, tournament = row.model_name, row.tournament
    moment = now or c.clock.now()
    early = judge_bio(pending, bio=pending.code, now=moment)
    if early is not CheckOutcome.VERIFIED:  # expired or used: no need to ask Numerai
        return CheckResult(early, OUTCOME_MESSAGES[early], None)
    try:
        profile = c.numerai.model_profile(name, tournament)
    except NumeraiNotFound:
        raise NotFound(f"the {tournament} model '{name}' no longer exists on Numerai") from None
    except NumeraiUnavailable:
        raise Unavailable(
            "Numerai is unavailable right now; nothing changed, check again later"
        ) from None
    outcome = judge_bio(pending, bio=profile.bio, now=moment)
    if outcome is not CheckOutcome.VERIFIED:
        return CheckResult(outcome, OUTCOME_MESSAGES[outcome], None)
    with c.db.transaction() as session:
        row = session.get(OwnershipCode, code_id)
        assert row is not None
        if row.used_at is not None:
            raise Conflict(OUTCOME_MESSAGES[CheckOutcome.CODE_USED])
        row.used_at = moment
        model = bind_model(
            c,
            session,
            user_id=user_id,
            ref=ModelRef(profile.id, profile.name, tournament),
            via="bio",
            api_key_id=None,
        )
        return CheckResult(outcome, OUTCOME_MESSAGES[outcome], _model_info(session, model))


def bind_model(
    c: Container,
    session: Session,
    *,
    user_id: int,
    ref: ModelRef,
    via: str,
    api_key_id: int | None,
) -> NumeraiModel:
    """Bind a Numerai model to the user, moving it from a previous owner if any (which
    publishes ``ModelOwnershipMoved`` inside the caller's transaction)."""
    model = session.scalars(select(NumeraiModel).where(NumeraiModel.numerai_id == ref.id)).first()
    if model is None:
        model = NumeraiModel(numerai_id=ref.id, name=ref.name, tournament=ref.tournament)
        session.add(model)
        session.flush()
    previous = model.owner_user_id
    now = c.clock.now()
    model.name = ref.name
    if previous != user_id or model.verified_via != via:
        session.add(
            OwnershipMove(
                model_id=model.id,
                from_user_id=previous,
                to_user_id=user_id,
                via=via,
                created_at=now,
            )
        )
    if previous is not None and previous != user_id:
        c.bus.publish(ModelOwnershipMoved(model.id, previous, user_id, now), session=session)
        session.add(
            AuditEvent(
                actor_user_id=user_id,
                action="ownership.move",
                subject=f"model:{model.id}",
                detail=f"from user {previous}",
            )
        )
    model.owner_user_id = user_id
    model.verified_at = now
    model.verified_via = via
    if api_key_id is not None or previous != user_id:
        model.api_key_id = api_key_id
    session.flush()
    return model


def release_model(c: Container, *, user_id: int, model_id: int) -> None:
    with c.db.transaction() as session:
        model = session.get(NumeraiModel, model_id)
        if model is None or model.owner_user_id != user_id:
            raise NotFound(f"you do not own model {model_id}")
        now = c.clock.now()
        c.bus.publish(ModelOwnershipMoved(model.id, user_id, None, now), session=session)
        session.add(
            OwnershipMove(
                model_id=model.id,
                from_user_id=user_id,
                to_user_id=None,
                via="release",
                created_at=now,
            )
        )
        model.owner_user_id, model.verified_at, model.verified_via, model.api_key_id = (
            None,
            None,
            None,
            None,
        )


def _model_info(session: Session, m: NumeraiModel) -> ModelInfo:
    owner = session.get_one(User, m.owner_user_id).username if m.owner_user_id else None
    return ModelInfo(
        m.id,
        m.numerai_id,
        m.name,
        m.tournament,
        owner,
        m.verified_at,
        m.verified_via,
        m.api_key_id is not None,
    )


def models_of(c: Container, *, user_id: int) -> list[ModelInfo]:
    with c.db.transaction() as session:
        rows = session.scalars(
            select(NumeraiModel)
            .where(NumeraiModel.owner_user_id == user_id)
            .order_by(NumeraiModel.tournament, NumeraiModel.name)
        ).all()
        return [_model_info(session, m) for m in rows]


def is_seller(session: Session, user_id: int) -> bool:
    return (
        session.scalars(
            select(NumeraiModel.id).where(NumeraiModel.owner_user_id == user_id)
        ).first()
        is not None
    )


def seller_page(c: Container, *, username: str) -> tuple[str, datetime, list[ModelInfo]]:
    with c.db.transaction() as session:
        user = session.scalars(select(User).where(User.username == username_key(username))).first()
        if user is None:
            raise NotFound(f"no seller named '{username}'")
        rows = session.scalars(
            select(NumeraiModel)
            .where(NumeraiModel.owner_user_id == user.id)
            .order_by(NumeraiModel.tournament, NumeraiModel.name)
        ).all()
        return user.username, user.created_at, [_model_info(session, m) for m in rows]
