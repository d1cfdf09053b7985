"""cases, case history (append-only), evidence, outbox, labels

Revision ID: 0002_cases
Revises: 0001_accounts
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_cases"
down_revision = "0001_accounts"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True, index=True),
        sa.Column("status", sa.String(32), nullable=False, index=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False, index=True),
        sa.Column("camera_name", sa.String(120), nullable=False),
        sa.Column("national_id", sa.String(20)),
        sa.Column("zone_id", sa.String(64), nullable=False),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("place", sa.String(32), nullable=False),
        sa.Column("place_box", sa.JSON, nullable=False),
        sa.Column("code", sa.String(8), nullable=False, index=True),
        sa.Column("code_name", sa.String(64), nullable=False),
        sa.Column("catalogue_version", sa.String(64), nullable=False),
        sa.Column("grid_code", sa.String(20)),
        sa.Column("street", sa.String(120)),
        sa.Column("community", sa.String(120)),
        sa.Column("address", sa.String(240)),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("boxes", sa.JSON, nullable=False),
        sa.Column("first_seen", TZ, nullable=False),
        sa.Column("last_seen", TZ, nullable=False),
        sa.Column("raised_at", TZ, nullable=False, index=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", TZ),
        sa.Column("note", sa.Text),
        sa.Column("reject_reason", sa.String(64)),
        sa.Column("merged_into", sa.Integer, sa.ForeignKey("cases.id")),
        sa.Column("department", sa.String(120)),
        sa.Column("platform_ref", sa.String(120)),
        sa.Column("dispatched_at", TZ),
        sa.Column("verified_at", TZ),
        sa.Column("closed_at", TZ),
    )
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("before", sa.String(32)),
        sa.Column("after", sa.String(32)),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("case_id", "sha256", "kind"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=False, index=True),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("sent_at", TZ),
        sa.Column("reply", sa.JSON),
    )
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("text", sa.Text),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("image", sa.String(80)),
        sa.Column("boxes", sa.JSON, nullable=False),
        sa.Column("place_box", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER case_events_no_{verb.lower()} BEFORE {verb} ON case_events "
                "BEGIN SELECT RAISE(ABORT, 'case history is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION citywall_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER case_events_append_only BEFORE UPDATE OR DELETE ON case_events "
            "FOR EACH ROW EXECUTE FUNCTION citywall_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS case_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS case_events_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS case_events_append_only ON case_events")
    for table in ("labels", "outbox", "evidence", "case_events", "cases"):
        op.drop_table(table)
