"""Where each account usually logs in from: the addresses of its successful logins.

Throttling (``wall.auth.throttle``) treats failures from these addresses as the owner's own mistakes (a few lock
the account, as the 等保 reading asks) and failures from anywhere else as a stranger's (they slow that address
down; only a much higher total locks the account). So a user name alone is not enough to lock its owner out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wall.store.accounts import NAME_LENGTH, UTCDateTime, utcnow
from wall.store.db import Base

ADDRESS_LENGTH = 64



class LoginAddress(Base):
    """One address an account logged in from successfully, with the first and the latest such login."""

    __tablename__ = "login_addresses"
    __table_args__ = (UniqueConstraint("username", "address", name="uq_login_addresses"),
                      Index("ix_login_addresses_username", "username"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(NAME_LENGTH))
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
