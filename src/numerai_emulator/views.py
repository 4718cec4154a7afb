"""World records rendered as the API's JSON objects (camelCase keys, decimals as
strings, times as ISO 8601 with a zone)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from . import calendar
from .calendar import RoundTimes, iso
from .scoring import CORR, METRICS, PAYOUT_WEIGHTS, SCORE_DAYS, payout, percentile
from .state import Model, Submission, decimal_str
from .universe import CLASSIC
from .world import World

PAYOUT_FACTOR = Decimal("1")
SCORE_VERSION = "1"
ROUND_TARGETS = {CLASSIC: "target_cyrus_v4_20"}
SIGNALS_TARGET = "target_20d"
_NS = uuid.UUID("5f1d8a52-8c5e-4b8e-9d36-6c1c0f6b7e11")


def round_id(world: World, tournament: int, number: int) -> str:
    return str(uuid.uuid5(_NS, f"{world.seed}:round:{tournament}:{number}"))


def _score_config_id(tournament: int, metric: str) -> str:
    return str(uuid.uuid5(_NS, f"score-config:{tournament}:{metric}"))


def score_configs(tournament: int, rt: RoundTimes) -> list[dict]:
    return [
        {
            "id": str(uuid.uuid5(_NS, f"round-score-config:{tournament}:{rt.number}:{metric}")),
            "scoreConfigId": _score_config_id(tournament, metric),
            "roundNumberStart": calendar.ANCHOR_ROUND,
            "roundNumberEnd": None,
            "name": metric,
            "version": SCORE_VERSION,
            "displayName": metric,
            "totalScoreDays": SCORE_DAYS,
            "returnsLagDays": calendar.FIRST_SCORE_LAG_DAYS - 1,
            "dataDelayDays": 0,
            "universe": "classic" if tournament == CLASSIC else "signals",
            "isCanonScore": metric == CORR,
            "isPayout": True,
            "scoringStart": iso(rt.score_time),
            "scoringEnd": iso(rt.resolve_time),
            "minMultiplier": 0.0,
            "maxMultiplier": 3.0,
            "defaultMultiplier": float(PAYOUT_WEIGHTS[metric]),
            "clipThreshold": 0.05,
            "stakeThreshold": "0",
            "payoutFactor": decimal_str(PAYOUT_FACTOR),
        }
        for metric in METRICS
    ]


def payout_multipliers(tournament: int) -> list[dict]:
    return [
        {
            "id": _score_config_id(tournament, metric),
            "scoreConfigId": _score_config_id(tournament, metric),
            "name": metric,
            "version": SCORE_VERSION,
            "displayName": metric,
            "multiplier": float(PAYOUT_WEIGHTS[metric]),
        }
        for metric in METRICS
    ]


def round_view(world: World, tournament: int, rt: RoundTimes, now: datetime) -> dict:
    resolved = now >= rt.resolve_time
    return {
        "id": round_id(world, tournament, rt.number),
        "tournament": tournament,
        "number": rt.number,
        "target": ROUND_TARGETS.get(tournament, SIGNALS_TARGET),
        "openTime": iso(rt.open),
        "closeTime": iso(rt.close),
        "closeStakingTime": iso(rt.close),
        "scoreTime": iso(rt.score_time),
        "resolveTime": iso(rt.resolve_time),
        "resolvedGeneral": resolved,
        "resolvedStaking": resolved,
        "payoutFactor": decimal_str(PAYOUT_FACTOR),
        "stakeThreshold": "0",
        "dataDatestamp": rt.data_datestamp,
        "status": rt.status(now),
        "roundScoreConfigs": lambda *_: score_configs(tournament, rt),
    }


def list_rounds(
    world: World,
    tournament: int,
    *,
    number: int | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> list[dict]:
    """``number: 0`` is the current round; without a number, every round from the
    emulator's history start to the next (upcoming) one, newest first."""
    now = world.now()
    current = calendar.latest_open_round(now)
    if number == 0:
        numbers = [current]
    elif number is not None:
        numbers = [number] if 1 <= number <= current + 1 else []
    else:
        numbers = list(range(current + 1, world.genesis_round - 1, -1))
    rounds = [calendar.round_times(n) for n in numbers]
    if status:
        rounds = [rt for rt in rounds if rt.status(now) == status]
    if limit is not None:
        rounds = rounds[: max(0, limit)]
    return [round_view(world, tournament, rt, now) for rt in rounds]


def submission_view(world: World, sub: Submission, selected: bool) -> dict:
    now = world.now()
    rt = calendar.round_times(sub.round_number)
    return {
        "id": sub.id,
        "filename": sub.filename,
        "insertedAt": iso(sub.inserted_at),
        "selected": selected,
        "tournament": sub.tournament,
        "modelId": sub.model_id,
        "roundNumber": sub.round_number,
        "round": lambda *_: round_view(world, sub.tournament, rt, now),
        "firstEffectiveDate": iso(rt.score_time),
        "sha256": sub.sha256,
        "source": sub.source,
        "triggerId": sub.trigger_id,
    }


def submission_views(world: World, subs: list[Submission]) -> list[dict]:
    selected_ids = set()
    for model_id in {s.model_id for s in subs}:
        selected_ids |= {s.id for s in world.selected_by_round(model_id).values()}
    return [submission_view(world, s, s.id in selected_ids) for s in subs]


def _day_values(sub: Submission, day: int) -> dict[str, float]:
    return {m: sub.scores.value(m, day) for m in METRICS}


def score_rows(
    world: World,
    model: Model,
    *,
    display_name: str | None = None,
    version: str | None = None,
    day: int | None = None,
    resolved: bool | None = None,
    last_n_rounds: int | None = None,
    distinct_on_round: bool | None = None,
) -> list[dict]:
    """Published daily scores of a model's selected submissions, newest round first."""
    now = world.now()
    rows: list[dict] = []
    selected = sorted(world.selected_by_round(model.id).items(), reverse=True)
    scored = [(n, s) for n, s in selected if calendar.round_times(n).published_days(now) > 0]
    if last_n_rounds is not None:
        scored = scored[: max(0, last_n_rounds)]
    for number, sub in scored:
        rt = calendar.round_times(number)
        days = range(rt.published_days(now), 0, -1)
        round_rows = []
        for d in days:
            for metric in METRICS:
                value = sub.scores.value(metric, d)
                round_rows.append(
                    {
                        "roundId": round_id(world, model.tournament, number),
                        "submissionId": sub.id,
                        "roundNumber": number,
                        "roundResolveTime": iso(rt.resolve_time),
                        "roundScoreTime": iso(rt.score_time),
                        "roundCloseStakingTime": iso(rt.close),
                        "value": value,
                        "percentile": percentile(metric, value),
                        "displayName": metric,
                        "version": SCORE_VERSION,
                        "date": iso(rt.score_date(d)),
                        "day": d,
                        "resolveDate": iso(rt.resolve_time),
                        "resolved": d == SCORE_DAYS,
                    }
                )
        round_rows = [
            r
            for r in round_rows
            if display_name in (None, r["displayName"])
            and version in (None, r["version"])
            and day in (None, r["day"])
            and resolved in (None, r["resolved"])
        ]
        if distinct_on_round and round_rows:
            round_rows = round_rows[:1]
        rows.extend(round_rows)
    return rows


def performances(world: World, model: Model) -> list[dict]:
    """v2RoundModelPerformances: one entry per round with a selected submission."""
    now = world.now()
    out = []
    for number, sub in sorted(world.selected_by_round(model.id).items(), reverse=True):
        rt = calendar.round_times(number)
        at_risk = world.at_risk(model, number)
        daily = []
        for d in range(1, rt.published_days(now) + 1):
            values = _day_values(sub, d)
            amount = payout(at_risk or Decimal(0), values, PAYOUT_FACTOR)
            final = d == SCORE_DAYS
            for metric in METRICS:
                daily.append(
                    {
                        "date": iso(rt.score_date(d)),
                        "day": d,
                        "displayName": metric,
                        "value": values[metric],
                        "percentile": percentile(metric, values[metric]),
                        "payoutPending": None if final else decimal_str(amount),
                        "payoutSettled": decimal_str(amount) if final else None,
                    }
                )
        out.append(
            {
                "roundId": round_id(world, model.tournament, number),
                "roundNumber": number,
                "roundOpenTime": iso(rt.open),
                "roundCloseTime": iso(rt.close),
                "roundScoreTime": iso(rt.score_time),
                "roundResolveTime": iso(rt.resolve_time),
                "roundResolved": now >= rt.resolve_time,
                "roundTarget": ROUND_TARGETS.get(model.tournament, SIGNALS_TARGET),
                "roundPayoutFactor": decimal_str(PAYOUT_FACTOR),
                "atRisk": decimal_str(at_risk),
                "submissionId": sub.id,
                "payoutMultipliers": payout_multipliers(model.tournament),
                "submissionScores": daily,
                "intraRoundSubmissionScores": daily,
            }
        )
    return out
