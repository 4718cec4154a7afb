"""`nmrx db upgrade` and `nmrx ledger check` as a user runs them: in this process through
typer's runner (the same command, its environment and exit code), and once as a real
``python -m nmrx.cli`` process, so the installed entry point itself is covered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from nmrx.cli import app
from nmrx.platform.bootstrap import Container
from nmrx.wallet.tables import LedgerAccount

NMRX = [sys.executable, "-m", "nmrx.cli"]


def env_for(database_url: str, tmp_path: Path) -> dict[str, str | None]:
    return {
        "NMRX_DATABASE_URL": database_url,
        "NMRX_DEMO": "true",
        "NMRX_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
    }


def run(args: list[str], database_url: str, tmp_path: Path) -> Result:
    return CliRunner().invoke(app, args, env=env_for(database_url, tmp_path))


def one_line(text: str) -> str:
    """The output with the terminal's line wrapping undone."""
    return " ".join(text.split())


def test_the_installed_command_checks_a_ledger_in_its_own_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NMRX_")}
    env.update(
        {k: v for k, v in env_for(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path).items() if v}
    )
    result = subprocess.run(
        [*NMRX, "ledger", "check"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "every invariant holds" in result.stdout


def test_db_upgrade_brings_an_empty_database_to_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    result = run(["db", "upgrade"], url, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "up to date" in result.stdout


def test_ledger_check_passes_on_a_sound_ledger_and_fails_on_a_broken_one(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    from tests.support.builders import make_user

    user = make_user(container, funds=100)
    ok = run(["ledger", "check"], database_url, tmp_path)
    assert ok.exit_code == 0, ok.stderr
    assert "every invariant holds" in ok.stdout

    with container.db.transaction() as s:
        row = s.scalars(
            select(LedgerAccount).where(
                LedgerAccount.user_id == user.id, LedgerAccount.kind == "held"
            )
        ).one()
        row.credits += 7
    broken = run(["ledger", "check"], database_url, tmp_path)
    assert broken.exit_code == 1
    stderr = one_line(broken.stderr)
    assert "held differ from its transfers" in stderr or "differ from its transfers" in stderr
    assert "pending holds total 0 units" in stderr
    with container.db.transaction() as s:
        row = s.scalars(
            select(LedgerAccount).where(
                LedgerAccount.user_id == user.id, LedgerAccount.kind == "held"
            )
        ).one()
        row.credits -= 7


def test_serving_outside_demo_with_the_default_secret_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("NMRX_")}
    result = CliRunner().invoke(app, ["serve"], env={**env, "COLUMNS": "200"})
    assert result.exit_code == 2
    assert "NMRX_SECRET_KEY" in one_line(result.stderr)
