"""Validation of predictions files: Numerai's rules, with exact reasons."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from nmrx.delivery.predictions import InvalidPredictions, validate

UNIVERSE = [f"n{i:015x}" for i in range(200)]
TICKERS = [f"T{i} US" for i in range(300)]


def csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def good_frame(n: int = 200) -> pd.DataFrame:
    return pd.DataFrame({"id": UNIVERSE[:n], "prediction": np.linspace(0.01, 0.99, n)})


def refusal(content: bytes, filename: str = "p.csv", tournament: str = "classic") -> str:
    with pytest.raises(InvalidPredictions) as info:
        validate(
            content,
            filename,
            universe=TICKERS if tournament == "signals" else UNIVERSE,
            tournament=tournament,
        )
    return str(info.value)


def test_a_complete_csv_is_accepted() -> None:
    result = validate(csv(good_frame()), "p.csv", universe=UNIVERSE, tournament="classic")
    assert (result.format, result.rows, result.covered) == ("csv", 200, 200)


def test_parquet_is_accepted_with_the_id_as_index_or_column() -> None:
    buffer = io.BytesIO()
    good_frame().set_index("id").to_parquet(buffer)
    assert (
        validate(buffer.getvalue(), "p.parquet", universe=UNIVERSE, tournament="classic").format
        == "parquet"
    )


def test_missing_ids_are_counted_with_examples() -> None:
    message = refusal(csv(good_frame(190)))
    assert "10 of the round's 200 live ids are missing: n0000000000000be" in message
    assert "…" in message


def test_duplicates_are_named() -> None:
    frame = pd.concat([good_frame(), good_frame().head(2)])
    assert "2 ids appear more than once: n000000000000000, n000000000000001" in refusal(csv(frame))


def test_nan_and_out_of_range_and_constant_values_are_each_reported() -> None:
    frame = good_frame()
    frame.loc[0, "prediction"] = np.nan
    frame.loc[1, "prediction"] = 1.5
    message = refusal(csv(frame))
    assert "1 prediction values are NaN" in message
    assert "1 prediction values are outside [0, 1], e.g. 1.5" in message
    constant = good_frame().assign(prediction=0.5)
    assert "all prediction values are the same (0.5)" in refusal(csv(constant))


def test_wrong_columns_are_named() -> None:
    message = refusal(csv(good_frame().rename(columns={"prediction": "pred"})))
    assert "wrong columns ['id', 'pred']" in message


@pytest.mark.parametrize(
    ("content", "expected"), [(b"", "the file is empty"), (b"PAR1garbage", "not readable parquet")]
)
def test_unreadable_files_are_refused(content: bytes, expected: str) -> None:
    assert expected in refusal(content, "p.parquet")


def test_signals_need_at_least_100_tickers_of_the_universe() -> None:
    few = pd.DataFrame({"numerai_ticker": TICKERS[:50], "signal": np.linspace(0.1, 0.9, 50)})
    assert (
        "only 50 tickers of the round's universe are covered; at least 100 are needed"
        in refusal(csv(few), tournament="signals")
    )
    enough = pd.DataFrame({"numerai_ticker": TICKERS[:150], "signal": np.linspace(0.1, 0.9, 150)})
    assert validate(csv(enough), "s.csv", universe=TICKERS, tournament="signals").covered == 150
