"""the statistics' daily rollup, kept honest by a trigger on cases; an index on cases.deadline_at

Revision ID: 0014_stats_rollup
Revises: 0012_recordings

Issue 13: the statistics page read every case of its range — 7–11 s for a year of a million cases. Past days are now
read pre-added from ``stats_rollup`` and ``stats_rollup_reasons`` (built lazily by wall/stats/rollup.py, one hall-
clock day per ``stats_rollup_days`` row). The rollup is derived data; what keeps it true is the trigger here: any
insert, delete, or update of a column a figure reads marks the day of the case's raise (before and after the change)
stale, whichever code writes the row, so the next query rebuilds it. A trigger rather than the desk's code, because
cases are written from several places (the desk, the platform API, the video checks, the history's own trigger on
``cleared_at``, an import). Nothing to backfill: days are built when first asked for.

``ix_cases_deadline_at``: the desk's overdue filter and badges compare ``deadline_at`` with the clock.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_stats_rollup"
down_revision = "0012_recordings"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
# every column of cases that a figure of the statistics reads (wall/stats/sql.py, wall/cases/listing.py)
READ = ("status", "source", "camera_id", "camera_name", "code", "code_name", "street", "community", "raised_at",
        "decided_at", "reject_reason", "merged_into", "dispatched_at", "cleared_at", "closed_at", "deadline_at")
STALE = ("UPDATE stats_rollup_days SET state = 'stale' WHERE end_at > {row}.raised_at "
         "AND start_at <= {row}.raised_at AND state <> 'stale'")


def upgrade() -> None:
    op.create_table(
        "stats_rollup_days",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("utc_offset", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("start_at", TZ, nullable=False),
        sa.Column("end_at", TZ, nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("built_at", TZ, nullable=False),
        sa.UniqueConstraint("utc_offset", "day"),
    )
    op.create_index("ix_stats_rollup_days_span", "stats_rollup_days", ["end_at", "start_at"])
    op.create_table(
        "stats_rollup",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("day_id", sa.Integer(), sa.ForeignKey("stats_rollup_days.id"), nullable=False),
        sa.Column("dim", sa.String(16), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(120), nullable=True),
        sa.Column("label", sa.String(120), nullable=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in (
            "raised", "confirmed", "rejected", "merged", "pending", "ai_decided", "ai_confirmed", "dispatched",
            "cleared_on_video", "overdue")),
        sa.Column("decision", sa.LargeBinary(), nullable=False),
        sa.Column("clear", sa.LargeBinary(), nullable=False),
        sa.Column("deadlines", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_stats_rollup_day_dim", "stats_rollup", ["day_id", "dim", "camera_id"])
    op.create_table(
        "stats_rollup_reasons",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("day_id", sa.Integer(), sa.ForeignKey("stats_rollup_days.id"), nullable=False),
        sa.Column("dim", sa.String(16), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(120), nullable=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
    )
    op.create_index("ix_stats_rollup_reasons_day_dim", "stats_rollup_reasons", ["day_id", "dim", "camera_id"])
    op.create_index("ix_cases_deadline_at", "cases", ["deadline_at"])
    columns = ", ".join(READ)
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"CREATE TRIGGER cases_stats_rollup_insert AFTER INSERT ON cases BEGIN "
                   f"{STALE.format(row='NEW')}; END")
        op.execute(f"CREATE TRIGGER cases_stats_rollup_update AFTER UPDATE OF {columns} ON cases BEGIN "
                   f"{STALE.format(row='NEW')}; {STALE.format(row='OLD')}; END")
        op.execute(f"CREATE TRIGGER cases_stats_rollup_delete AFTER DELETE ON cases BEGIN "
                   f"{STALE.format(row='OLD')}; END")
    else:
        op.execute(
            "CREATE OR REPLACE FUNCTION citywall_stats_rollup_stale() RETURNS trigger AS $$ BEGIN "
            f"IF TG_OP <> 'DELETE' THEN {STALE.format(row='NEW')}; END IF; "
            f"IF TG_OP <> 'INSERT' THEN {STALE.format(row='OLD')}; END IF; "
            "RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        op.execute(f"CREATE TRIGGER cases_stats_rollup AFTER INSERT OR DELETE OR UPDATE OF {columns} ON cases "
                   "FOR EACH ROW EXECUTE FUNCTION citywall_stats_rollup_stale()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS cases_stats_rollup_{name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS cases_stats_rollup ON cases")
        op.execute("DROP FUNCTION IF EXISTS citywall_stats_rollup_stale()")
    op.drop_index("ix_cases_deadline_at", table_name="cases")
    op.drop_index("ix_stats_rollup_reasons_day_dim", table_name="stats_rollup_reasons")
    op.drop_table("stats_rollup_reasons")
    op.drop_index("ix_stats_rollup_day_dim", table_name="stats_rollup")
    op.drop_table("stats_rollup")
    op.drop_index("ix_stats_rollup_days_span", table_name="stats_rollup_days")
    op.drop_table("stats_rollup_days")
