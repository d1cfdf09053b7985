"""What the migration tests share: Alembic's differences between a migrated database and the models."""

from __future__ import annotations

from typing import Any

from wall.store.db import Database


def table_diff(db: Database, table: str) -> list[Any]:
    """Alembic's differences between the migrated database and the models, for one table (a migration test
    checks its own table; others may differ while their migration is under test elsewhere)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from wall.store.models import Base

    def table_of(change: Any) -> str:
        item = change[0] if isinstance(change, list) else change
        if item[0] in ("add_table", "remove_table"):
            return str(item[1].name)
        if item[0].endswith(("_index", "_constraint", "_fk")):
            return str(item[1].table.name)
        return str(item[2])

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    return [c for c in diff if table_of(c) == table]
