"""login addresses (where each account usually logs in from) and the reason of a lockout

Revision ID: 0005_login_addresses
Revises: 0004_wall_controllers

Throttling from this revision on counts failures per account and per address and locks an account quickly
only for failures from its usual addresses (issue 16, finding 5). No rows are made for past logins: an
account's usual addresses start with its next successful login.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_login_addresses"
down_revision = "0004_wall_controllers"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime()  # wall.store.accounts.UTCDateTime: naive UTC in the database


def upgrade() -> None:
    op.create_table(
        "login_addresses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("first_at", UTC_TIME, nullable=False),
        sa.Column("last_at", UTC_TIME, nullable=False),
        sa.UniqueConstraint("username", "address", name="uq_login_addresses"),
    )
    op.create_index("ix_login_addresses_username", "login_addresses", ["username"])
    with op.batch_alter_table("lockouts") as batch:
        batch.add_column(sa.Column("reason", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lockouts") as batch:
        batch.drop_column("reason")
    op.drop_index("ix_login_addresses_username", table_name="login_addresses")
    op.drop_table("login_addresses")
