"""model promotions: which detector card the site runs, who switched it, and the evaluation that justified it

Revision ID: 0015_model_promotions
Revises: 0014_stats_rollup

Issue 15 item 5: an admin switches the site's model (``model:`` in analytics.yaml) only with a ``citywall evaluate``
result attached, and can roll back to the previous one. ``model_promotions`` is the history: one row per promotion
or rollback — the card now in service (path as analytics.yaml names it, the ONNX file's SHA-256), the card it
replaced (the rollback target), who, when, and the evaluation JSON. The newest row is the site's current model;
the file stays the one source of truth for what ``serve`` loads, the row says why it is what it is.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_model_promotions"
down_revision = "0014_stats_rollup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_promotions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(80), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("card", sa.String(512), nullable=False),
        sa.Column("card_name", sa.String(120), nullable=False),
        sa.Column("onnx_sha256", sa.String(64), nullable=False),
        sa.Column("previous_card", sa.String(512), nullable=True),
        sa.Column("evaluation", sa.Text(), nullable=True),
    )
    op.create_index("ix_model_promotions_at", "model_promotions", ["at"])


def downgrade() -> None:
    op.drop_index("ix_model_promotions_at", table_name="model_promotions")
    op.drop_table("model_promotions")
