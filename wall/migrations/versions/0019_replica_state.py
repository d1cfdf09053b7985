"""replica state: walls.version, ptz_returns

Revision ID: 0019_replica_state
Revises: 0017_ptz_leases

Issue 12 (several control-plane replicas): each replica keeps the walls in memory and writes a change as the
wall's whole state, so two replicas changing two tiles of one wall at once used to lose one of the two changes
(the one committed first). The wall's version moves into a column of its own, so every write is a
compare-and-set on it (wall.store.walls, wall.walls.records): a change made on a state that another replica
replaced meanwhile is made again on the committed one instead of overwriting it. Existing rows get the version
their state document holds (the table as of this revision, not the code's models).

``ptz_returns``: when a camera steered off its analysis preset is sent back moved from the process that took the
command into the database (wall.ptz.returns), so the return happens once across replicas — after the last
command on any of them, by the replica that claims the due row — and survives the replica that stopped.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0019_replica_state"
down_revision = "0017_ptz_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("walls", sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    walls = sa.table("walls", sa.column("name", sa.String), sa.column("state", sa.JSON),
                     sa.column("version", sa.Integer))
    bind = op.get_bind()
    for name, state in bind.execute(sa.select(walls.c.name, walls.c.state)).all():
        document = json.loads(state) if isinstance(state, str) else state
        version = document.get("version") if isinstance(document, dict) else None
        if isinstance(version, int) and version > 0:
            bind.execute(walls.update().where(walls.c.name == name).values(version=version))
    op.create_table(
        "ptz_returns",
        sa.Column("camera_id", sa.String(64), primary_key=True),
        sa.Column("due", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ptz_returns")
    op.drop_column("walls", "version")
