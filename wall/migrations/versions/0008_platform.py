"""the platform link: service accounts, idempotent platform requests, persistent video checks, outbox kinds

Revision ID: 0008_platform
Revises: 0007_stats_indexes

Issue 13 items 2–4: the city's case platform calls citywall with a token of its own (``service_accounts``, only
the token's SHA-256 kept), every successful call is kept by the platform's request id so a retry changes nothing
(``platform_requests``), and video checks live in ``video_checks`` instead of the analyzers' memory, so a
restart resumes them. The outbox carries more than confirmations now: ``outbox.kind`` says which message a row
is, and ``outbox.case_id`` may be empty (the result of a check of a camera the platform named, not a case).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_platform"
down_revision = "0007_stats_indexes"
branch_labels = None
depends_on = None

TZ = sa.DateTime()  # wall.store.accounts.UTCDateTime: naive UTC on SQLite, like the accounts' tables


def upgrade() -> None:
    op.create_table(
        "service_accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("rotated_at", TZ, nullable=False),
        sa.Column("last_used_at", TZ),
    )
    op.create_table(
        "platform_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("request_id", sa.String(100), nullable=False, unique=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("answer", sa.JSON, nullable=False),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_table(
        "video_checks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), index=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(100)),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("verdict", sa.String(32)),
        sa.Column("zone_id", sa.String(64), nullable=False),
        sa.Column("box", sa.JSON),
        sa.Column("clear_after", sa.Float, nullable=False),
        sa.Column("within", sa.Float, nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("deadline_at", TZ, nullable=False),
        sa.Column("finished_at", TZ),
        sa.Column("before_picture", sa.String(80)),
        sa.Column("after_picture", sa.String(80)),
        sa.Column("note", sa.Text),
    )
    # nothing refers to the outbox: a batch copy of it (SQLite cannot drop NOT NULL in place) is safe
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("kind", sa.String(32), nullable=False, server_default="case_confirmed"))
        batch.alter_column("case_id", existing_type=sa.Integer, nullable=True)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM outbox WHERE case_id IS NULL"))
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("case_id", existing_type=sa.Integer, nullable=False)
        batch.drop_column("kind")
    op.drop_table("video_checks")
    op.drop_table("platform_requests")
    op.drop_table("service_accounts")
