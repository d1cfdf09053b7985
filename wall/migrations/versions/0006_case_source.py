"""cases.source says who found a case: "ai" (the analytics) or "patrol" (an operator filing from video)

Revision ID: 0006_case_source
Revises: 0005_login_addresses

Until now every case came from the analytics and ``source`` held the platform's label for them
(视频智能发现). Operators now file cases themselves (视频巡查, issue 13), so the column holds a short code the
desk and the statistics filter on, and the platform's label is derived from it when a case is sent
(``wall.cases.models.SOURCE_LABELS``). The index serves the statistics' per-source counts.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_case_source"
down_revision = "0005_login_addresses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("UPDATE cases SET source = 'ai' WHERE source = '视频智能发现'"))
    op.execute(sa.text("UPDATE cases SET source = 'patrol' WHERE source = '视频巡查'"))
    op.create_index("ix_cases_source", "cases", ["source"])


def downgrade() -> None:
    op.drop_index("ix_cases_source", table_name="cases")
    op.execute(sa.text("UPDATE cases SET source = '视频智能发现' WHERE source = 'ai'"))
    op.execute(sa.text("UPDATE cases SET source = '视频巡查' WHERE source = 'patrol'"))
