"""false-alarm memory (误报抑制): suppressions

Revision ID: 0010_suppressions
Revises: 0009_case_deadlines

Issue 15 item 6: a rejection "allowed here" / "not an event" can remember the place (camera, zone, family, place
key and box); later candidates there are counted on the row instead of raising a case, until an admin lifts it
or it expires. A table of its own rather than columns on ``cases``: one rejection's memory outlives many
candidates, and the admins list and change it without touching a case.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_suppressions"
down_revision = "0009_case_deadlines"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("zone_id", sa.String(64), nullable=False),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("place", sa.String(32), nullable=False),
        sa.Column("place_box", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(64), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("last_hit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_suppressions_case_id", "suppressions", ["case_id"])
    op.create_index("ix_suppressions_where", "suppressions", ["camera_id", "zone_id", "family"])


def downgrade() -> None:
    op.drop_index("ix_suppressions_where", table_name="suppressions")
    op.drop_index("ix_suppressions_case_id", table_name="suppressions")
    op.drop_table("suppressions")
