"""Key rotation for encrypted columns: re-encrypt every stored secret under the ring's first
key, with no downtime (readers accept every key of the ring meanwhile).

Each row is rewritten only if its ciphertext is still the one read (a compare-and-set), so a
secret replaced while the rotation runs is never overwritten with its old value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from nmrx.platform.crypto import SecretBox
from nmrx.platform.db import Database

BATCH = 200


def rewrap_column(
    db: Database, box: SecretBox, model: Any, associated: Callable[[Any], str]
) -> int:
    """Re-encrypts ``model.secret_ciphertext`` of every row not yet under the first key;
    returns how many rows moved. ``associated(row)``: the row's associated data."""
    moved, last_id = 0, 0
    while True:
        with db.transaction() as session:
            rows = session.scalars(
                select(model).where(model.id > last_id).order_by(model.id).limit(BATCH)
            ).all()
            if not rows:
                return moved
            for row in rows:
                last_id = row.id
                old = row.secret_ciphertext
                new = box.rewrap_text(old, associated=associated(row))
                if new is None:
                    continue
                done = session.execute(
                    update(model)
                    .where(model.id == row.id, model.secret_ciphertext == old)
                    .values(secret_ciphertext=new)
                    .execution_options(synchronize_session=False)
                )
                moved += int(getattr(done, "rowcount", 0) or 0)
