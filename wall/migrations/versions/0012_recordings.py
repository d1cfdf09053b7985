"""recording index: recording_segments

Revision ID: 0012_recordings
Revises: 0011_grant_rights

Issue 14 item 2 (录像回放): every segment file a camera's recorder closes gets a row — camera, wall-clock start
and end, size, codec parameters — so the timeline, playback, export and retention read the database instead of
listing directories, and a camera that moved to another cluster worker keeps its older segments findable. The
path (relative to the recording storage) is unique: a segment reported twice is indexed once.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_recordings"
down_revision = "0011_grant_rights"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recording_segments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("path", sa.String(512), nullable=False, unique=True),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("keyframes", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("codec", sa.String(16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("params", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_recording_segments_camera_start", "recording_segments", ["camera_id", "start_at"])
    op.create_index("ix_recording_segments_start", "recording_segments", ["start_at"])


def downgrade() -> None:
    op.drop_index("ix_recording_segments_start", table_name="recording_segments")
    op.drop_index("ix_recording_segments_camera_start", table_name="recording_segments")
    op.drop_table("recording_segments")
