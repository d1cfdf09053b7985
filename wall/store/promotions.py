"""The history of the site's detector (migration 0015_model_promotions): one row per promotion or rollback.

Why a table beside analytics.yaml: the file says which card ``serve`` loads, but not who switched it, on the
strength of which evaluation, nor which card to go back to. The newest row answers all three; rows are never
changed, so the history reads like the audit log (which records each switch as well).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wall.store.accounts import UTCDateTime, utcnow
from wall.store.db import Base


class ModelPromotion(Base):
    __tablename__ = "model_promotions"
    __table_args__ = (Index("ix_model_promotions_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(16))  # promote | rollback
    card: Mapped[str] = mapped_column(String(512))  # as analytics.yaml's model: names it
    card_name: Mapped[str] = mapped_column(String(120))
    onnx_sha256: Mapped[str] = mapped_column(String(64))
    previous_card: Mapped[str | None] = mapped_column(String(512), nullable=True)  # the rollback target
    evaluation: Mapped[str | None] = mapped_column(Text, nullable=True)  # the attached Evaluation, JSON
