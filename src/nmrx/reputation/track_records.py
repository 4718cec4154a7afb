"""Model track records (market-rules §6): synced from Numerai, summarised, served.

``sync_model`` reads one model's rounds (scores and payouts) and profile (stake, start
date) from Numerai and stores them; ``sync_due`` is the worker's duty (listed models
whose last attempt is older than ``performance_sync_minutes``); ``track_record`` is what
the pages and the API show. Each round's live score is the latest published daily score
of each metric (``v2_corr20`` as "corr", and ``mmc``); its payout is that day's
(settled once the round resolved, pending before). Summaries are
:mod:`nmrx.reputation.rules`'s, over the last 20 and 60 rounds with a score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from nmrx.accounts.tables import User
from nmrx.market.tables import Instrument
from nmrx.platform.errors import NotFound, Unavailable
from nmrx.platform.numerai import NumeraiError, NumeraiNotFound
from nmrx.platform.numerai_history import RoundRecord, round_records
from nmrx.reputation.rules import (
    CORR,
    MMC,
    WINDOWS,
    Summary,
    latest_daily,
    summaries,
    to_units,
)
from nmrx.reputation.tables import ModelPerformance, ModelRoundScore
from nmrx.sellers.tables import NumeraiModel

if TYPE_CHECKING:
    from nmrx.platform.bootstrap import Container

log = logging.getLogger("nmrx.performance")


@dataclass(frozen=True)
class RoundScore:
    round_number: int
    corr: float | None
    mmc: float | None
    score_day: int | None  # the daily score shown (1..20); 20 = resolved
    scored_on: datetime | None
    payout: int | None  # units, signed
    payout_settled: bool
    at_risk: int | None  # units
    resolved: bool
    submission_id: str | None


@dataclass(frozen=True)
class TrackRecord:
    model_id: int
    name: str
    tournament: str
    owner: str | None
    stake: int | None
    start_date: datetime | None
    age_days: int | None
    synced_at: datetime | None
    last_error: str | None
    rounds: list[RoundScore]  # oldest round first
    summaries: dict[str, dict[int, Summary]]  # metric ("corr" | "mmc") -> window -> summary
    total_payout: int  # units, over the rounds listed

    @property
    def synced(self) -> bool:
        return self.synced_at is not None


@dataclass(frozen=True)
class SyncResult:
    model_id: int
    rounds: int
    scored: int


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _round_values(record: RoundRecord) -> dict[str, object]:
    points = [(d.day, d.name, d.value) for d in record.daily]
    corr, mmc = latest_daily(points, CORR), latest_daily(points, MMC)
    latest = max(record.daily, key=lambda d: d.day, default=None)
    payout, settled = None, False
    if latest is not None:
        same_day = [d for d in record.daily if d.day == latest.day]
        settled_values = [d.payout_settled for d in same_day if d.payout_settled is not None]
        pending_values = [d.payout_pending for d in same_day if d.payout_pending is not None]
        if settled_values:
            payout, settled = to_units(settled_values[0]), True
        elif pending_values:
            payout = to_units(pending_values[0])
    return dict(
        submission_id=record.submission_id,
        corr=corr.value if corr else None,
        mmc=mmc.value if mmc else None,
        score_day=latest.day if latest else None,
        scored_on=_aware(latest.date) if latest else None,
        payout=payout,
        payout_settled=settled,
        at_risk=to_units(record.at_risk),
        resolved=record.resolved,
    )


def _model(session: Session, model_id: int) -> NumeraiModel:
    model = session.get(NumeraiModel, model_id)
    if model is None:
        raise NotFound(f"no model {model_id}")
    return model


def _performance_row(session: Session, model_id: int) -> ModelPerformance:
    row = session.get(ModelPerformance, model_id)
    if row is None:
        row = ModelPerformance(model_id=model_id, rounds_scored=0)
        session.add(row)
    return row


def sync_model(c: Container, *, model_id: int) -> SyncResult:
    """Read the model's rounds and profile from Numerai and store them (one transaction).

    Numerai unavailable or refusing: nothing is stored but the attempt and its error;
    raises :class:`Unavailable`.
    """
    with c.db.transaction() as session:
        model = _model(session, model_id)
        numerai_id, name, tournament = model.numerai_id, model.name, model.tournament
    now = c.clock.now()
    try:
        records = round_records(c.numerai, numerai_id, tournament)
        try:
            profile = c.numerai.model_profile(name, tournament)
            stake = to_units(profile.nmr_staked)
            start_date = _aware(profile.start_date)
        except NumeraiNotFound:  # renamed on Numerai: keep the scores, lose the profile
            stake, start_date = None, None
    except NumeraiError as exc:
        with c.db.transaction() as session:
            row = _performance_row(session, model_id)
            row.attempted_at, row.last_error = now, exc.message[:500]
        raise Unavailable(f"cannot read {name}'s performance from Numerai: {exc.message}") from None
    with c.db.transaction() as session:
        stored = {
            r.round_number: r
            for r in session.scalars(
                select(ModelRoundScore).where(ModelRoundScore.model_id == model_id)
            )
        }
        for record in records:
            values = _round_values(record)
            scored = stored.get(record.round_number)
            if scored is None:
                scored = ModelRoundScore(model_id=model_id, round_number=record.round_number)
                session.add(scored)
                stored[record.round_number] = scored
            for key, value in values.items():
                setattr(scored, key, value)
            scored.synced_at = now
        corr_by_round = {n: r.corr for n, r in stored.items()}
        headline = summaries(corr_by_round, (20,))[20]
        perf = _performance_row(session, model_id)
        perf.stake, perf.start_date = stake, start_date
        perf.corr_mean_20, perf.corr_sharpe_20 = headline.mean, headline.sharpe
        perf.rounds_scored = sum(1 for v in corr_by_round.values() if v is not None)
        perf.synced_at = perf.attempted_at = now
        perf.last_error = None
        return SyncResult(model_id, len(stored), perf.rounds_scored)


def sync_due(c: Container, *, limit: int | None = None) -> dict[str, int]:
    """The worker's duty: sync listed models (owned, with books) not tried recently."""
    now = c.clock.now()
    cutoff = now - timedelta(minutes=c.settings.performance_sync_minutes)
    with c.db.transaction() as session:
        ids = session.scalars(
            select(NumeraiModel.id)
            .outerjoin(ModelPerformance, ModelPerformance.model_id == NumeraiModel.id)
            .where(
                NumeraiModel.owner_user_id.is_not(None),
                exists().where(Instrument.model_id == NumeraiModel.id),
                (ModelPerformance.attempted_at.is_(None))
                | (ModelPerformance.attempted_at < cutoff),
            )
            .order_by(ModelPerformance.attempted_at.is_not(None), ModelPerformance.attempted_at)
            .limit(limit or c.settings.performance_sync_batch)
        ).all()
    report = {"synced": 0, "failed": 0}
    for model_id in ids:
        try:
            sync_model(c, model_id=model_id)
            report["synced"] += 1
        except Unavailable as exc:
            log.warning("performance sync of model %s failed: %s", model_id, exc.message)
            report["failed"] += 1
    return report


def sync_on_demand(c: Container, *, model_id: int) -> TrackRecord:
    """Sync now unless a sync succeeded within the cool-down; returns the track record."""
    with c.db.transaction() as session:
        _model(session, model_id)
        perf = session.get(ModelPerformance, model_id)
        last = perf.synced_at if perf else None
    cooldown = timedelta(seconds=c.settings.performance_sync_cooldown_seconds)
    if last is None or c.clock.now() - last >= cooldown:
        sync_model(c, model_id=model_id)
    return track_record(c, model_id)


def _score(row: ModelRoundScore) -> RoundScore:
    return RoundScore(
        round_number=row.round_number,
        corr=row.corr,
        mmc=row.mmc,
        score_day=row.score_day,
        scored_on=row.scored_on,
        payout=row.payout,
        payout_settled=row.payout_settled,
        at_risk=row.at_risk,
        resolved=row.resolved,
        submission_id=row.submission_id,
    )


def track_record(c: Container, model_id: int) -> TrackRecord:
    """A model's synced rounds (oldest first), summaries over 20 and 60 rounds, stake, age."""
    with c.db.transaction() as session:
        model = _model(session, model_id)
        owner = session.get(User, model.owner_user_id) if model.owner_user_id else None
        perf = session.get(ModelPerformance, model_id)
        rows = session.scalars(
            select(ModelRoundScore)
            .where(ModelRoundScore.model_id == model_id)
            .order_by(ModelRoundScore.round_number)
        ).all()
        rounds = [_score(r) for r in rows]
        name, tournament = model.name, model.tournament
        owner_name = owner.username if owner else None
    start = perf.start_date if perf else None
    age = max(0, (c.clock.now() - start).days) if start is not None else None
    return TrackRecord(
        model_id=model_id,
        name=name,
        tournament=tournament,
        owner=owner_name,
        stake=perf.stake if perf else None,
        start_date=start,
        age_days=age,
        synced_at=perf.synced_at if perf else None,
        last_error=perf.last_error if perf else None,
        rounds=rounds,
        summaries={
            "corr": summaries({r.round_number: r.corr for r in rounds}, WINDOWS),
            "mmc": summaries({r.round_number: r.mmc for r in rounds}, WINDOWS),
        },
        total_payout=sum(r.payout or 0 for r in rounds),
    )
