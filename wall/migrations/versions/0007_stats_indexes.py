"""what the statistics page needs at a million cases: cases.cleared_at, kept by the database, and the indexes

Revision ID: 0007_stats_indexes
Revises: 0006_case_source

The statistics (issue 13 item 6) measure dispatch → first "cleared on video". Read from the history, that is a
``min(at)`` over ``case_events`` grouped per case, recomputed for every statement of every page view; at a
million cases it dominated the page (10–26 s at 200k cases). ``cases.cleared_at`` holds that time instead. A
trigger fills it when the history row is written — whichever code writes it (the desk, the platform API, an
import) — and only the first time, so it is exactly the ``min(at)`` it replaces and the history stays the
single source of truth. Existing rows are backfilled from their history.

``ix_cases_raised_camera`` (raised_at, camera_id) serves the page's filter: a time range, and for a user with
camera grants ``camera_id IN (…)``, answered from the index before a row is read. It replaces
``ix_cases_raised_at``, of which it is a prefix.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_stats_indexes"
down_revision = "0006_case_source"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("cases", sa.Column("cleared_at", TZ, nullable=True))
    op.execute(sa.text(
        "UPDATE cases SET cleared_at = (SELECT min(e.at) FROM case_events e WHERE e.case_id = cases.id "
        "AND e.action = 'cleared_on_video') "
        "WHERE EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = cases.id AND e.action = 'cleared_on_video')"
    ))
    op.drop_index("ix_cases_raised_at", table_name="cases")
    op.create_index("ix_cases_raised_camera", "cases", ["raised_at", "camera_id"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER case_events_cleared_at AFTER INSERT ON case_events "
            "WHEN NEW.action = 'cleared_on_video' BEGIN "
            "UPDATE cases SET cleared_at = NEW.at WHERE id = NEW.case_id AND cleared_at IS NULL; END"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION citywall_case_cleared_at() RETURNS trigger AS $$ BEGIN "
            "UPDATE cases SET cleared_at = NEW.at WHERE id = NEW.case_id AND cleared_at IS NULL; "
            "RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER case_events_cleared_at AFTER INSERT ON case_events FOR EACH ROW "
            "WHEN (NEW.action = 'cleared_on_video') EXECUTE FUNCTION citywall_case_cleared_at()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS case_events_cleared_at")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS case_events_cleared_at ON case_events")
        op.execute("DROP FUNCTION IF EXISTS citywall_case_cleared_at()")
    op.drop_index("ix_cases_raised_camera", table_name="cases")
    op.create_index("ix_cases_raised_at", "cases", ["raised_at"])
    # ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): a batch copy of ``cases`` would trip the history's foreign key
    op.drop_column("cases", "cleared_at")
