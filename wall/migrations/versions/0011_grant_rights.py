"""grant rights: view, playback, ptz

Revision ID: 0011_grant_rights
Revises: 0010_suppressions

Issue 14: playback (录像回放) and PTZ (遥控) are rights of their own, granted per user, role and camera group like
the live view. A column on ``grants`` rather than two more tables: the three rights share the subjects, the
targets, the group resolution and the admin matrix; each right is its own row, so revoking one leaves the
others. Every existing grant is a view grant.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_grant_rights"
down_revision = "0010_suppressions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite cannot change a table's constraints in place: batch mode copies the table (ids kept, and
    # AUTOINCREMENT kept so that no id the API handed out is reused)
    with op.batch_alter_table("grants", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("grant_right", sa.String(8), nullable=False, server_default="view"))
        batch.drop_constraint("uq_grants", type_="unique")
        batch.create_unique_constraint("uq_grants", ["subject_kind", "subject", "target_kind", "target",
                                                     "grant_right"])
        batch.create_check_constraint("ck_grants_right", "grant_right IN ('view', 'playback', 'ptz')")


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM grants WHERE grant_right <> 'view'"))
    with op.batch_alter_table("grants", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint("ck_grants_right", type_="check")
        batch.drop_constraint("uq_grants", type_="unique")
        batch.create_unique_constraint("uq_grants", ["subject_kind", "subject", "target_kind", "target"])
        batch.drop_column("grant_right")
