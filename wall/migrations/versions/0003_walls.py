"""walls (server-side wall state) and wall presets

Revision ID: 0003_walls
Revises: 0002_cases
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_walls"
down_revision = "0002_cases"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "walls",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "wall_presets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("wall", sa.String(80), nullable=False, index=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("wall", "name", name="uq_wall_presets"),
    )


def downgrade() -> None:
    op.drop_table("wall_presets")
    op.drop_table("walls")
