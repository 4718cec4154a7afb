"""The migrations produce exactly the schema the code declares, and every one of them can be
undone: upgrade to head, downgrade to base and upgrade again gives the same schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from nmrx.platform.bootstrap import Container
from nmrx.platform.db import make_engine
from nmrx.platform.migrate import alembic_config, upgrade
from nmrx.platform.tables import Base
from tests.conftest import BACKENDS, PG_URL


def test_migrated_schema_matches_the_models(container: Container) -> None:
    with container.db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a new, empty database (not the suite's migrated template)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        yield engine
        engine.dispose()
        return
    name = f"nmrx_migrations_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(make_engine(PG_URL).url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _schema(engine: Engine) -> dict[str, dict[str, Any]]:
    """Tables with their columns, keys, indexes and constraints, by name (order-free)."""
    insp = inspect(engine)
    schema: dict[str, dict[str, Any]] = {}
    for table in sorted(insp.get_table_names()):
        schema[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)
            ),
            "primary_key": sorted(insp.get_pk_constraint(table)["constrained_columns"]),
            "foreign_keys": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in insp.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
                for ix in insp.get_indexes(table)
            ),
            "unique": sorted(
                (uc["name"], tuple(uc["column_names"])) for uc in insp.get_unique_constraints(table)
            ),
            "checks": sorted(str(ck["name"]) for ck in insp.get_check_constraints(table)),
        }
    return schema


def _types(engine: Engine) -> list[str]:
    """Named types and sequences left in the database (PostgreSQL), which a downgrade must drop
    with its tables; SQLite has none."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public' AND c.relkind = 'S'"
                    " UNION ALL SELECT t.typname FROM pg_type t"
                    " JOIN pg_namespace n ON n.oid = t.typnamespace"
                    " WHERE n.nspname = 'public' AND t.typtype = 'e'"
                )
            ).scalars()
        )


def test_every_migration_downgrades_and_upgrades_again(empty_engine: Engine) -> None:
    assert _schema(empty_engine) == {}
    upgrade(empty_engine)
    first = _schema(empty_engine)
    first_types = _types(empty_engine)
    assert set(first) >= {t.name for t in Base.metadata.sorted_tables}

    command.downgrade(alembic_config(empty_engine), "base")
    empty_engine.dispose()  # SQLite: drop pooled connections that cached the old schema
    assert set(_schema(empty_engine)) <= {"alembic_version"}, "a downgrade left tables behind"
    assert _types(empty_engine) == [], "a downgrade left types or sequences behind"
    with empty_engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is None

    upgrade(empty_engine)
    assert _schema(empty_engine) == first
    assert _types(empty_engine) == first_types
    with empty_engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
