"""The recording index: one row per segment file a camera's recorder closed (migration 0012_recordings).

The files are on the recording storage (a local directory or a shared mount); the rows are in the one database,
so whichever box serves playback finds every camera's segments, including those a camera recorded on another
cluster worker before it moved. ``path`` is relative to the storage root and unique: a segment reported twice
(a cluster worker repeats its recent ones on every report) is indexed once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wall.store.db import Base


class RecordingSegment(Base):
    __tablename__ = "recording_segments"
    __table_args__ = (Index("ix_recording_segments_camera_start", "camera_id", "start_at"),
                      Index("ix_recording_segments_start", "start_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512), unique=True)
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[float] = mapped_column(Float)
    frames: Mapped[int] = mapped_column(Integer)
    keyframes: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    codec: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    params: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(16))
    indexed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
