"""`nmrx db upgrade` and `nmrx ledger check` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from nmrx.platform.bootstrap import Container
from nmrx.wallet.tables import LedgerAccount

NMRX = [sys.executable, "-m", "nmrx.cli"]


def run(args: list[str], database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NMRX_DATABASE_URL": database_url,
        "NMRX_DEMO": "true",
        "NMRX_DATA_DIR": str(tmp_path),
    }
    return subprocess.run([*NMRX, *args], env=env, capture_output=True, text=True, timeout=120)


def test_db_upgrade_brings_an_empty_database_to_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    result = run(["db", "upgrade"], url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_ledger_check_passes_on_a_sound_ledger_and_fails_on_a_broken_one(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    from tests.support.builders import make_user

    user = make_user(container, funds=100)
    ok = run(["ledger", "check"], database_url, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "every invariant holds" in ok.stdout

    with container.db.transaction() as s:
        row = s.scalars(
            select(LedgerAccount).where(
                LedgerAccount.user_id == user.id, LedgerAccount.kind == "held"
            )
        ).one()
        row.credits += 7
    broken = run(["ledger", "check"], database_url, tmp_path)
    assert broken.returncode == 1
    assert (
        "held differ from its transfers" in broken.stderr
        or "differ from its transfers" in broken.stderr
    )
    assert "pending holds total 0 units" in broken.stderr
    with container.db.transaction() as s:
        row = s.scalars(
            select(LedgerAccount).where(
                LedgerAccount.user_id == user.id, LedgerAccount.kind == "held"
            )
        ).one()
        row.credits -= 7


def test_serving_outside_demo_with_the_default_secret_is_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NMRX_")}
    result = subprocess.run(
        [*NMRX, "serve"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "NMRX_SECRET_KEY" in result.stderr
