"""Shared fixtures: a fresh database per test on SQLite always, and on PostgreSQL when
``NMRX_TEST_DATABASE_URL`` is set (CI always sets it; under ``CI=true`` its absence or an
unreachable server is a failure, never a skip)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import make_url

from nmrx.accounts import passwords
from nmrx.platform.bootstrap import Container, bootstrap
from nmrx.platform.config import Settings
from nmrx.platform.db import make_engine
from nmrx.platform.migrate import upgrade
from nmrx.platform.rate_limit import RULES
from nmrx.wallet import ledger

PG_URL = os.environ.get("NMRX_TEST_DATABASE_URL", "")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])
RATE_LIMITS = [rule.setting for rule in RULES.values()]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`-n auto` (the README's command): see tests/support/scheduling.py."""
    from tests.support.scheduling import SuiteScheduling

    if config.getoption("dist") not in {"load", "loadfile", "loadscope"}:
        return None  # another mode asked for by name: xdist's own
    return SuiteScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    from tests.support.scheduling import order_long_running_first

    order_long_running_first(items)


def pytest_configure(config: pytest.Config) -> None:
    # Still argon2id, at the lowest cost: the production cost (tens of ms a hash, hundreds
    # of users a run) only slows the suite. The browser tests' `nmrx demo` keeps it, and
    # tests/integration/accounts/test_api.py checks what production stores.
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    if IN_CI and not PG_URL:
        raise pytest.UsageError(
            "CI=true but NMRX_TEST_DATABASE_URL is not set: PostgreSQL tests must run"
        )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "nmrx.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated once, dropped at the end."""
    if not PG_URL:
        pytest.fail("NMRX_TEST_DATABASE_URL is not set")
    name = f"nmrx_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable server: fail loudly
        pytest.fail(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
    url = make_url(make_engine(PG_URL).url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            )
        ]
        if tables:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "nmrx.sqlite3"
        shutil.copy(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_database")
    _truncate_all(url)
    return url


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "demo": True,
        "database_url": database_url,
        "data_dir": tmp_path / "data",
        # Tests log in and register many times from one address; the rate limits' own tests
        # (tests/integration/platform/test_rate_limits.py) set small limits.
        **{name: "10000/minute" for name in RATE_LIMITS},
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def container(database_url: str, tmp_path: Path) -> Iterator[Container]:
    """A composed application on a fresh database; the ledger must be sound afterwards."""
    c = bootstrap(make_settings(database_url, tmp_path))
    yield c
    violations = ledger.check(c.db)
    c.close()
    assert violations == [], f"ledger invariants broken: {violations}"
