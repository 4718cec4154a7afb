"""The migrations produce exactly the schema the code declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from nmrx.platform.bootstrap import Container
from nmrx.platform.tables import Base


def test_migrated_schema_matches_the_models(container: Container) -> None:
    with container.db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
