"""A model's round history from Numerai, with payouts: the track record's source.

``NumeraiGateway.round_performances`` reads the scores settlement needs; the track record
also needs each daily score's payout (``payoutPending`` / ``payoutSettled``), so this
module sends the same ``v2RoundModelPerformances`` query with those fields, through the
gateway's own client, timeouts, classified errors and retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from nmrx.platform.numerai import TOURNAMENTS, NumeraiGateway

QUERY = """
    query($modelId: String!, $tournament: Int) {
      v2RoundModelPerformances(modelId: $modelId, tournament: $tournament) {
        roundNumber roundResolved atRisk submissionId
        submissionScores { day date displayName value payoutPending payoutSettled }
      }
    }
"""


@dataclass(frozen=True)
class DailyRecord:
    day: int
    date: datetime | None
    name: str
    value: float
    payout_pending: Decimal | None
    payout_settled: Decimal | None


@dataclass(frozen=True)
class RoundRecord:
    round_number: int
    resolved: bool
    at_risk: Decimal | None
    submission_id: str | None
    daily: list[DailyRecord]


def _decimal(text: object) -> Decimal | None:
    return Decimal(str(text)) if text is not None else None


def _date(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def round_records(
    gateway: NumeraiGateway, numerai_model_id: str, tournament: str = "classic"
) -> list[RoundRecord]:
    """Every round Numerai lists for the model, with every published daily score."""

    def run() -> list[RoundRecord]:
        data = gateway.client(tournament).raw_query(
            QUERY, {"modelId": numerai_model_id, "tournament": TOURNAMENTS[tournament]}
        )
        rows = data["data"]["v2RoundModelPerformances"] or []
        return [
            RoundRecord(
                round_number=int(r["roundNumber"]),
                resolved=bool(r.get("roundResolved")),
                at_risk=_decimal(r.get("atRisk")),
                submission_id=r.get("submissionId"),
                daily=[
                    DailyRecord(
                        day=int(s["day"]),
                        date=_date(s.get("date")),
                        name=s.get("displayName") or "",
                        value=float(s["value"]),
                        payout_pending=_decimal(s.get("payoutPending")),
                        payout_settled=_decimal(s.get("payoutSettled")),
                    )
                    for s in r.get("submissionScores") or []
                    if s.get("value") is not None and s.get("day") is not None
                ],
            )
            for r in rows
        ]

    return gateway.call("round_records", run)
