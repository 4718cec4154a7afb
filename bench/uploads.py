"""Upload cost per file: NMRX's validation + encrypted storage against Numerai's validator.

    .venv/bin/python bench/uploads.py [--rows 6700] [--repeat 30] [--seed 7]

One classic predictions file (``--rows`` ids ``"n"`` + 15 hex characters, predictions
uniform in (0, 1)) as CSV and as parquet. For each format, per run:

* nmrx validate   — ``nmrx.delivery.predictions.validate`` (parse + our diagnosis + Numerai's
                    ``validate_submission_numerai`` on a copy of the frame);
* nmrx store      — ``LocalEncryptedStore.put`` (AES-GCM, written to a temp dir) +
                    ``fingerprint`` (SHA-256): the rest of what the upload service does per file;
* nmrx total      — both, one after the other, as the upload service runs them;
* reference       — ``pd.read_csv`` / ``pd.read_parquet`` of the same bytes, then
                    ``validate_submission_numerai(pd.Series(universe), frame)``: parsing is
                    INCLUDED, so the ratio nmrx total / reference is like for like;
* validator only  — ``validate_submission_numerai`` on an already parsed frame (parsing
                    EXCLUDED), to show how much of the reference is parsing.

The variants run interleaved (a different order each run) after a warm-up; figures are
p50 and mean in milliseconds. The temp dir is removed at the end.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from numerai_tools.submissions import validate_submission_numerai

from nmrx.delivery.predictions import validate
from nmrx.platform.crypto import SecretBox
from nmrx.platform.storage import LocalEncryptedStore, fingerprint

WARMUP = 3


def make_files(rows: int, seed: int) -> tuple[list[str], dict[str, bytes]]:
    rng = np.random.default_rng(seed)
    raw = np.unique(rng.integers(0, 16**15, size=rows + 100, dtype=np.int64))[:rows]
    universe = [f"n{value:015x}" for value in raw.tolist()]
    preds = rng.uniform(0.0, 1.0, size=rows)
    preds = np.clip(preds, 1e-9, 1 - 1e-9)  # strictly inside (0, 1)
    frame = pd.DataFrame({"id": universe, "prediction": preds})
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return universe, {
        "csv": frame.to_csv(index=False).encode(),
        "parquet": buffer.getvalue(),
    }


def parse_reference(content: bytes, fmt: str) -> pd.DataFrame:
    if fmt == "parquet":
        return pd.read_parquet(io.BytesIO(content))
    return pd.read_csv(io.BytesIO(content))


def variants(
    content: bytes, fmt: str, universe: list[str], store: LocalEncryptedStore
) -> dict[str, Callable[[], object]]:
    filename = f"predictions.{fmt}"
    parsed = parse_reference(content, fmt)

    def nmrx_validate() -> object:
        return validate(content, filename, universe=universe, tournament="classic")

    def nmrx_store() -> object:
        return store.put(content), fingerprint(content)

    def nmrx_total() -> object:
        valid = validate(content, filename, universe=universe, tournament="classic")
        return valid, store.put(content), fingerprint(content)

    def reference() -> object:
        frame = parse_reference(content, fmt)
        return validate_submission_numerai(pd.Series(universe), frame)

    def validator_only() -> object:
        return validate_submission_numerai(pd.Series(universe), parsed.copy())

    return {
        "nmrx validate": nmrx_validate,
        "nmrx store (put + sha256)": nmrx_store,
        "nmrx total": nmrx_total,
        "reference: parse + validator": reference,
        "validator only (no parse)": validator_only,
    }


def measure(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    names = list(fns)
    for _ in range(WARMUP):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeat):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            fns[name]()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=6700)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    universe, files = make_files(args.rows, args.seed)
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="nmrx-bench-uploads-") as tmp:
        store = LocalEncryptedStore(Path(tmp), SecretBox("x" * 40, "files"))
        for fmt, content in files.items():
            fns = variants(content, fmt, universe, store)
            fns["nmrx validate"]()  # the file is valid: a refusal would raise here
            results[fmt] = measure(fns, args.repeat)

    print(
        f"classic predictions: {args.rows:,} rows, universe {len(universe):,} ids; "
        f"CSV {len(files['csv']):,} B, parquet {len(files['parquet']):,} B; "
        f"{args.repeat} timed runs per variant after {WARMUP} warm-up runs, interleaved"
    )
    print(
        "reference = pandas parse of the same bytes + validate_submission_numerai (parsing INCLUDED)"
    )
    for fmt, times in results.items():
        print()
        print(f"{fmt:<8} {'variant':<30} {'p50 ms':>9} {'mean ms':>9}")
        for name, values in times.items():
            print(
                f"{'':<8} {name:<30} {statistics.median(values):9.2f} {statistics.fmean(values):9.2f}"
            )
        total, ref = times["nmrx total"], times["reference: parse + validator"]
        only = times["validator only (no parse)"]
        print(
            f"{'':<8} {'ratio nmrx total / reference':<30} "
            f"{statistics.median(total) / statistics.median(ref):8.2f}x "
            f"{statistics.fmean(total) / statistics.fmean(ref):8.2f}x"
        )
        print(
            f"{'':<8} {'ratio nmrx total / validator':<30} "
            f"{statistics.median(total) / statistics.median(only):8.2f}x "
            f"{statistics.fmean(total) / statistics.fmean(only):8.2f}x"
        )


if __name__ == "__main__":
    main()
