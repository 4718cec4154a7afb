"""one current upload per (model, round), enforced by a partial unique index

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 17:15:00.000000

Concurrent re-uploads could leave several uploads of one model and round marked current.
The upgrade first repairs such duplicates, keeping the newest (highest id) current, then
adds the index.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEX = "uq_prediction_uploads_one_current"


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE prediction_uploads SET current = :no, replaced_at = COALESCE(replaced_at, "
            "created_at) WHERE current = :yes AND EXISTS (SELECT 1 FROM prediction_uploads newer "
            "WHERE newer.model_id = prediction_uploads.model_id "
            "AND newer.round_number = prediction_uploads.round_number "
            "AND newer.current = :yes AND newer.id > prediction_uploads.id)"
        ).bindparams(yes=True, no=False)
    )
    op.create_index(
        INDEX,
        "prediction_uploads",
        ["model_id", "round_number"],
        unique=True,
        sqlite_where=sa.text("current"),
        postgresql_where=sa.text("current"),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="prediction_uploads")
