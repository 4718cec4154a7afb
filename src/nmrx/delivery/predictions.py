"""Predictions files: parse and validate against a round's live universe (market-rules §5.2).

Numerai's own validators (``numerai_tools.submissions``) decide what is valid; when they
refuse a file, we say exactly what is wrong: which columns, how many ids are missing
(with examples), which are duplicated, how many values are NaN or out of range.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from types import ModuleType

import numpy as np
import pandas as pd

MAX_FILE_BYTES = 50 * 1024 * 1024
EXAMPLES = 5


@cache
def _official() -> ModuleType:
    """Numerai's validators, imported on first use: they pull in SciPy and scikit-learn,
    seconds of start-up that every command and worker not validating a file would pay."""
    from numerai_tools import submissions

    return submissions


class InvalidPredictions(ValueError):
    """The file cannot be accepted; ``reasons`` lists every problem found."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class ValidPredictions:
    format: str  # csv | parquet
    rows: int
    id_column: str
    prediction_column: str
    covered: int  # ids of the live universe present


def parse(content: bytes, filename: str) -> tuple[pd.DataFrame, str]:
    if not content:
        raise InvalidPredictions(["the file is empty"])
    if len(content) > MAX_FILE_BYTES:
        raise InvalidPredictions([f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB"])
    is_parquet = content[:4] == b"PAR1" or filename.lower().endswith(".parquet")
    try:
        if is_parquet:
            frame = pd.read_parquet(io.BytesIO(content))
            if (
                frame.index.name
                in _official().NUMERAI_ALLOWED_ID_COLS + _official().SIGNALS_ALLOWED_ID_COLS
            ):
                frame = frame.reset_index()
            return frame, "parquet"
        return pd.read_csv(io.BytesIO(content)), "csv"
    except Exception as exc:  # noqa: BLE001 - any parser failure is the file's fault
        kind = "parquet" if is_parquet else "CSV"
        raise InvalidPredictions(
            [f"the file is not readable {kind}: {type(exc).__name__}: {exc}"]
        ) from None


def _examples(values: list[str]) -> str:
    shown = ", ".join(sorted(values)[:EXAMPLES])
    return f"{shown}{', …' if len(values) > EXAMPLES else ''}"


def _diagnose(frame: pd.DataFrame, universe: list[str], tournament: str) -> list[str]:
    """Our own account of what is wrong, precise enough to fix the file."""
    cols, id_cols, pred_cols = _columns_to_check(frame, tournament)
    if len(cols) != 2 or cols[0] not in id_cols or cols[1] not in pred_cols:
        return [
            f"wrong columns {cols}: expected exactly two columns, one of {id_cols} then one of {pred_cols}"
        ]
    id_col, pred_col = cols
    id_reasons = _id_problems(frame[id_col], id_col, universe, tournament)
    return id_reasons + _prediction_problems(frame[pred_col], pred_col)


def _columns_to_check(
    frame: pd.DataFrame, tournament: str
) -> tuple[list[str], list[str], list[str]]:
    """The file's columns to check (a Signals file's date and ``data_type`` columns aside),
    and the id and prediction column names Numerai allows."""
    if tournament == "signals":
        cols = [
            c
            for c in frame.columns
            if c not in _official().SIGNALS_ALLOWED_DATE_COLS and c != "data_type"
        ]
        return cols, _official().SIGNALS_ALLOWED_ID_COLS, _official().SIGNALS_ALLOWED_PRED_COLS
    return (
        list(frame.columns),
        _official().NUMERAI_ALLOWED_ID_COLS,
        _official().NUMERAI_ALLOWED_PRED_COLS,
    )


def _id_problems(ids: pd.Series, id_col: str, universe: list[str], tournament: str) -> list[str]:
    """Ids that are absent, duplicated among live ids, or too few of the live universe."""
    reasons: list[str] = []
    if ids.isna().any():
        reasons.append(f"{int(ids.isna().sum())} rows have no {id_col}")
    ids = ids.dropna().astype(str)
    live = set(universe)
    duplicated = ids[ids.duplicated() & ids.isin(live)].unique().tolist()
    if duplicated:
        reasons.append(
            f"{len(duplicated)} {id_col}s appear more than once: {_examples(duplicated)}"
        )
    present = live.intersection(ids)
    missing = sorted(live - present)
    if tournament == "signals":
        if len(present) < _official().SIGNALS_MIN_TICKERS:
            reasons.append(
                f"only {len(present)} tickers of the round's universe are covered; "
                f"at least {_official().SIGNALS_MIN_TICKERS} are needed"
            )
    elif missing:
        reasons.append(
            f"{len(missing)} of the round's {len(live)} live ids are missing: {_examples(missing)}"
        )
    return reasons


def _prediction_problems(values: pd.Series, pred_col: str) -> list[str]:
    """Prediction values that are not numbers, NaN, outside [0, 1], or all the same."""
    reasons: list[str] = []
    preds = pd.to_numeric(values, errors="coerce")
    non_numeric = int(values.notna().sum() - preds.notna().sum())
    if non_numeric:
        reasons.append(f"{non_numeric} {pred_col} values are not numbers")
    nan = int(values.isna().sum())
    if nan:
        reasons.append(f"{nan} {pred_col} values are NaN")
    out = preds[(preds < 0) | (preds > 1)]
    if len(out):
        reasons.append(
            f"{len(out)} {pred_col} values are outside [0, 1], e.g. {', '.join(f'{v:g}' for v in out.head(3))}"
        )
    finite = preds.dropna()
    if len(finite) and np.isclose(finite.std(), 0):
        reasons.append(
            f"all {pred_col} values are the same ({finite.iloc[0]:g}): predictions must vary"
        )
    return reasons


def validate(
    content: bytes, filename: str, *, universe: list[str], tournament: str
) -> ValidPredictions:
    """Accept or refuse a predictions file for a round whose live universe is ``universe``."""
    frame, fmt = parse(content, filename)
    reasons = _diagnose(frame, universe, tournament)
    try:
        if tournament == "signals":
            id_col, pred_col, _date, live_sub, _invalid = _official().validate_submission_signals(
                pd.DataFrame({"numerai_ticker": universe}).rename(
                    columns={"numerai_ticker": _id_column(frame)}
                ),
                frame.copy(),
            )
        else:
            id_col, pred_col, live_sub, _invalid = _official().validate_submission_numerai(
                pd.Series(universe), frame.copy()
            )
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        raise InvalidPredictions(
            reasons or [str(exc) or "Numerai's validator refused the file"]
        ) from None
    if (
        reasons
    ):  # the official rules passed but ours found a problem (e.g. duplicates of non-live ids)
        raise InvalidPredictions(reasons)
    return ValidPredictions(fmt, len(frame), str(id_col), str(pred_col), len(live_sub))


def _id_column(frame: pd.DataFrame) -> str:
    for col in frame.columns:
        if col in _official().SIGNALS_ALLOWED_ID_COLS:
            return str(col)
    return "numerai_ticker"
