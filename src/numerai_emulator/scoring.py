"""Validating and scoring submitted files with Numerai's own tools (``numerai-tools``).

Two metrics per round, both computed from the file and the round's hidden targets:

* ``v2_corr20`` — ``numerai_tools.scoring.numerai_corr(predictions, targets)``, exactly.
* ``mmc`` — a contribution-style metric:
  ``numerai_tools.scoring.correlation_contribution(predictions, example_predictions,
  targets)``, i.e. Numerai's MMC formula with the round's example predictions standing
  in for the stake-weighted meta model.

Signals files are first cleaned the way Numerai does before scoring
(``clean_submission(..., rank_and_fill=True)``: joined to the universe, ranked, and
missing tickers filled with 0.5).

Daily scores: day 20 (the resolved score) equals the final value above. Day *d* adds a
drift ``k·(20−d)/19·z_d``, where ``z_d`` is the correlation of the gaussianised,
ranked predictions with a per-round, per-day noise vector (from the seed): deterministic
from the file, identical for two models that submit the same file, shrinking to zero.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import pandas as pd
from numerai_tools.scoring import (
    correlation_contribution,
    gaussian,
    numerai_corr,
    tie_kept_rank,
)
from numerai_tools.submissions import (
    clean_submission,
    validate_submission_numerai,
    validate_submission_signals,
)

from .errors import EmulatorError
from .universe import CLASSIC, RoundData

CORR = "v2_corr20"
MMC = "mmc"
METRICS = (CORR, MMC)
SCORE_DAYS = 20
DRIFT_SCALE = {CORR: 2.0, MMC: 0.7}
PERCENTILE_SCALE = {CORR: 0.03, MMC: 0.01}
PAYOUT_WEIGHTS = {CORR: Decimal("0.5"), MMC: Decimal("2")}
PAYOUT_CLIP = Decimal("0.05")
NMR_QUANTUM = Decimal("0.00000001")
SIGNALS_ID_COLS = ("numerai_ticker", "bloomberg_ticker")


class InvalidSubmission(EmulatorError):
    """The file failed Numerai's validation; the message is numerai-tools' own."""


@dataclass(frozen=True)
class Scores:
    final: dict[str, float]
    daily: dict[str, tuple[float, ...]]  # SCORE_DAYS values per metric, day 1 first

    def value(self, metric: str, day: int) -> float:
        return self.daily[metric][day - 1]


def read_predictions(content: bytes, filename: str) -> pd.DataFrame:
    try:
        if content[:4] == b"PAR1" or filename.lower().endswith(".parquet"):
            return pd.read_parquet(io.BytesIO(content))
        return pd.read_csv(io.BytesIO(content))
    except Exception as exc:  # noqa: BLE001 - any parse failure is the file's fault
        raise InvalidSubmission(
            f"invalid_submission_format: could not read {filename} as CSV or Parquet ({exc})"
        ) from exc


def clean_predictions(data: RoundData, frame: pd.DataFrame) -> pd.Series:
    """Validate a submission against the round's universe; return it indexed by id."""
    frame = frame.copy()
    try:
        if data.tournament == CLASSIC:
            id_col, pred_col, live, _ = validate_submission_numerai(data.ids.to_series(), frame)
            preds = live.set_index(id_col)[pred_col].astype(float).sort_index()
            return preds.rename("prediction")
        universe = pd.DataFrame({col: data.ids for col in SIGNALS_ID_COLS})
        if not any(c in SIGNALS_ID_COLS for c in frame.columns):
            raise AssertionError(
                "invalid_submission_headers: this emulator accepts the ticker columns "
                f"{list(SIGNALS_ID_COLS)} and the prediction columns ['prediction', 'signal']"
            )
        ticker_col, signal_col, _, live, _ = validate_submission_signals(universe, frame)
        cleaned = clean_submission(
            universe,
            live.drop(columns=[c for c in live.columns if c not in (ticker_col, signal_col)]),
            ticker_col,
            signal_col,
            dst_id_col="numerai_ticker",
            dst_signal_col="signal",
            rank_and_fill=True,
        )
        return cleaned.astype(float).sort_index()
    except AssertionError as exc:
        raise InvalidSubmission(str(exc)) from exc
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidSubmission(f"invalid_submission: {exc}") from exc


def score(data: RoundData, preds: pd.Series) -> Scores:
    frame = preds.to_frame()
    name = preds.name
    final = {
        CORR: float(numerai_corr(frame, data.targets)[name]),
        MMC: float(correlation_contribution(frame, data.example, data.targets)[name]),
    }
    shaped = gaussian(tie_kept_rank(frame))[name].reindex(data.ids).fillna(0.0).to_numpy()
    shaped = (shaped - shaped.mean()) / (shaped.std() or 1.0)
    projections = data.drift_basis @ shaped / len(shaped)  # (basis,)
    noise = data.drift_weights @ projections  # (metrics, days)
    daily = {}
    for i, metric in enumerate(METRICS):
        values = []
        for day in range(1, SCORE_DAYS + 1):
            shrink = (SCORE_DAYS - day) / (SCORE_DAYS - 1)
            drift = DRIFT_SCALE[metric] * shrink * float(noise[i, day - 1])
            values.append(final[metric] if day == SCORE_DAYS else final[metric] + drift)
        daily[metric] = tuple(values)
    return Scores(final=final, daily=daily)


def percentile(metric: str, value: float) -> float:
    """Rank against an imagined normal population of models (deterministic from value)."""
    return 0.5 * (1.0 + math.erf(value / (PERCENTILE_SCALE[metric] * math.sqrt(2.0))))


def payout(at_risk: Decimal, values: dict[str, float], payout_factor: Decimal) -> Decimal:
    """``at_risk × clip(factor × (0.5·corr + 2·mmc), ±0.05)``, in NMR to 1e-8."""
    raw = sum(PAYOUT_WEIGHTS[m] * Decimal(repr(values[m])) for m in METRICS) * payout_factor
    clipped = max(-PAYOUT_CLIP, min(PAYOUT_CLIP, raw))
    return (at_risk * clipped).quantize(NMR_QUANTUM, rounding=ROUND_HALF_EVEN)
