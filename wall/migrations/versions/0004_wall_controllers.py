"""wall controllers (who may change a shared wall besides the admins)

Revision ID: 0004_wall_controllers
Revises: 0003_walls

No rows are made for the walls that exist: from this revision on a shared wall is changed by the admins and
by the controllers server.yaml names for it (written at the next start) or an admin sets — no longer by every
operator (issue 16, finding 3).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_wall_controllers"
down_revision = "0003_walls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wall_controllers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("wall", sa.String(80), nullable=False, index=True),
        sa.Column("subject_kind", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("wall", "subject_kind", "subject", name="uq_wall_controllers"),
    )


def downgrade() -> None:
    op.drop_table("wall_controllers")
