"""time limits (处置时限): cases.deadline_at

Revision ID: 0009_case_deadlines
Revises: 0008_platform

Issue 13 item 5: a case gets a deadline when it is dispatched (the platform's, or the event code's time limit
from the dispatch: wall/time_limits.py), so the desk and the wall show overdue cases and the statistics
count them. Cases dispatched before this migration have none (no limit was known then): they are never overdue,
rather than overdue by a limit invented afterwards.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_case_deadlines"
down_revision = "0008_platform"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35, like 0007): a batch copy of ``cases`` would trip the history's
    # foreign key
    op.drop_column("cases", "deadline_at")
