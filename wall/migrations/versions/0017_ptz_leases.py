"""PTZ leases: ptz_leases

Revision ID: 0017_ptz_leases
Revises: 0016_label_details

Issue 12 (replicas) and 14 (PTZ): the one-operator lease of a camera's PTZ moves from each process' memory into
the database, so an operator on one control-plane replica and one on another cannot steer the same camera at once.
One row per camera ever leased; a lapsed row is overwritten by the next take.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_ptz_leases"
down_revision = "0016_label_details"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ptz_leases",
        sa.Column("camera_id", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.Column("until", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ptz_leases")
