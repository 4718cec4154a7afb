"""Deterministic live universes, example predictions and hidden targets per round.

Everything is a pure function of ``(seed, tournament, round)`` — two emulators with one
seed produce identical data — and is cached per round.

Classic: about 6,700 ids per round, ``"n"`` + 15 hex characters, new ids each round (as
on Numerai), 20 integer features in 0..4. Signals: about 5,000 tickers such as
``"AAPL US"`` out of a fixed pool, a slightly different subset each round.

Targets are bucketed like Numerai's (0, 0.25, 0.5, 0.75, 1 with weights 5/20/50/20/5 %)
from a latent signal that the features and the example predictions partly see, so the
example predictions score a small positive correlation.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from .calendar import round_times

CLASSIC = 8
SIGNALS = 11
TOURNAMENTS = (CLASSIC, SIGNALS)
N_FEATURES = 20
DRIFT_BASIS = 4
TARGET_LEVELS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
TARGET_CUTS = np.array([0.05, 0.25, 0.75, 0.95])

CLASSIC_DATASETS = (
    "v5.0/features.json",
    "v5.0/live.parquet",
    "v5.0/live_example_preds.parquet",
)
SIGNALS_DATASETS = (
    "signals/v1.0/live.parquet",
    "signals/v1.0/live_example_preds.parquet",
)
DATASETS = {CLASSIC: CLASSIC_DATASETS, SIGNALS: SIGNALS_DATASETS}

_FAMOUS = (
    "AAPL US,MSFT US,AMZN US,GOOGL US,META US,NVDA US,TSLA US,JPM US,V US,JNJ US,WMT US,"
    "PG US,XOM US,UNH US,HD US,KO US,PEP US,DIS US,NFLX US,INTC US,CSCO US,ORCL US,"
    "IBM US,BA US,CAT US,GS US,MS US,NKE US,MCD US,SBUX US,SHEL LN,AZN LN,HSBA LN,"
    "ULVR LN,BP/ LN,7203 JP,6758 JP,9984 JP,SAP GR,SIE GR,ALV GR,MC FP,OR FP,TTE FP,"
    "NESN SW,ROG SW,700 HK,9988 HK,RY CN,TD CN,BHP AU,CBA AU"
)
FAMOUS_TICKERS = tuple(_FAMOUS.split(","))
_COUNTRIES = ("US",) * 8 + ("LN", "JP", "GR", "FP", "CN", "AU", "HK", "SW", "KS", "SS")
_WORD_LIST = (
    "honoured observational balaamite unlit dire chaldean winged slimmer intime "
    "aroid conjugal apomictic wistful stylish unsent bushy lumbar assertive covered "
    "jolly premeditated nubbly ghostly trisyllabic epicene slinky fleecy overhead"
)
_WORDS = _WORD_LIST.split()


def _rng(seed: int, *parts: int) -> np.random.Generator:
    return np.random.default_rng([seed, *parts])


def feature_names(seed: int) -> list[str]:
    rng = _rng(seed, 0, 1)
    names: list[str] = []
    while len(names) < N_FEATURES:
        a, b, c = rng.choice(len(_WORDS), size=3, replace=False)
        name = f"feature_{_WORDS[a]}_{_WORDS[b]}_{_WORDS[c]}"
        if name not in names:
            names.append(name)
    return names


@lru_cache(maxsize=8)
def ticker_pool(seed: int) -> tuple[str, ...]:
    rng = _rng(seed, 0, 2)
    pool = dict.fromkeys(FAMOUS_TICKERS)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    while len(pool) < 5600:
        length = int(rng.integers(2, 6))
        symbol = "".join(rng.choice(letters, size=length))
        pool[f"{symbol} {_COUNTRIES[int(rng.integers(len(_COUNTRIES)))]}"] = None
    return tuple(pool)


@dataclass(frozen=True)
class RoundData:
    """The hidden and public data of one round of one tournament."""

    tournament: int
    round_number: int
    id_col: str  # "id" (classic) or "numerai_ticker" (signals)
    features: pd.DataFrame  # indexed by id/ticker, sorted; int8 0..4
    example: pd.Series  # example predictions in (0, 1), same index
    targets: pd.Series  # hidden targets, same index, named "target"
    drift_basis: np.ndarray  # (DRIFT_BASIS, n) standard normals for the daily-score drift
    drift_weights: np.ndarray  # (2 metrics, 20 days, DRIFT_BASIS) unit-norm mixing weights

    @property
    def ids(self) -> pd.Index:
        return self.features.index


def _ids(seed: int, tournament: int, number: int, rng: np.random.Generator) -> list[str]:
    if tournament == CLASSIC:
        n = 6700 + int(rng.integers(-120, 121))
        raw = np.unique(rng.integers(0, 16**15, size=n + 50, dtype=np.int64))[:n]
        return sorted(f"n{value:015x}" for value in raw.tolist())
    pool = ticker_pool(seed)
    famous = len(FAMOUS_TICKERS)
    n_other = 5000 - famous + int(rng.integers(-80, 81))
    chosen = rng.choice(np.arange(famous, len(pool)), size=n_other, replace=False)
    return sorted([*pool[:famous], *(pool[i] for i in chosen.tolist())])


def _bucket(values: np.ndarray) -> np.ndarray:
    ranks = (values.argsort().argsort() + 0.5) / len(values)
    return TARGET_LEVELS[np.searchsorted(TARGET_CUTS, ranks)]


@lru_cache(maxsize=24)
def round_data(seed: int, tournament: int, number: int) -> RoundData:
    if tournament not in TOURNAMENTS:
        raise ValueError(f"unknown tournament {tournament}")
    rng = _rng(seed, tournament, number)
    ids = _ids(seed, tournament, number, rng)
    n = len(ids)
    latent_features = rng.standard_normal((n, N_FEATURES))
    weights = rng.standard_normal(N_FEATURES)
    latent = latent_features @ weights / np.linalg.norm(weights)
    quintiles = (latent_features.argsort(axis=0).argsort(axis=0) * 5 // n).astype(np.int8)
    index = pd.Index(ids, name="id" if tournament == CLASSIC else "numerai_ticker")
    features = pd.DataFrame(quintiles, index=index, columns=feature_names(seed))
    target_raw = 0.2 * latent + rng.standard_normal(n)
    example_raw = 0.15 * latent + rng.standard_normal(n)
    example_ranks = (example_raw.argsort().argsort() + 0.5) / n
    pred_name = "prediction" if tournament == CLASSIC else "signal"
    mix = rng.standard_normal((2, 20, DRIFT_BASIS))
    return RoundData(
        tournament=tournament,
        round_number=number,
        id_col=index.name,
        features=features,
        example=pd.Series(np.round(example_ranks, 6), index=index, name=pred_name),
        targets=pd.Series(_bucket(target_raw), index=index, name="target"),
        drift_basis=rng.standard_normal((DRIFT_BASIS, n)),
        drift_weights=mix / np.linalg.norm(mix, axis=2, keepdims=True),
    )


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


@lru_cache(maxsize=24)
def dataset_bytes(seed: int, tournament: int, number: int, filename: str) -> bytes:
    """The content of one downloadable dataset file of a round."""
    if filename not in DATASETS.get(tournament, ()):
        raise KeyError(filename)
    data = round_data(seed, tournament, number)
    names = list(data.features.columns)
    if filename.endswith("features.json"):
        doc: dict[str, Any] = {
            "feature_sets": {"small": names[:5], "medium": names[:10], "all": names}
        }
        doc["targets"] = ["target"]
        return json.dumps(doc, indent=2).encode()
    if tournament == CLASSIC and filename.endswith("live.parquet"):
        live = data.features.copy()
        live.insert(0, "era", "X")
        live.insert(1, "data_type", "live")
        live["target"] = np.nan
        return _parquet(live)
    if tournament == CLASSIC:
        return _parquet(data.example.to_frame())
    date = pd.Timestamp(round_times(number).open.date())
    if filename.endswith("live.parquet"):
        live = data.features.reset_index()
        live.insert(1, "date", date)
        live.insert(2, "data_type", "live")
        return _parquet(live)
    return _parquet(data.example.reset_index())
