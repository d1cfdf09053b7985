"""Imports every module that defines tables, so Alembic and ``Base.metadata`` see them all."""

from wall.store import accounts, cases  # users, groups, grants, sessions, audit; cases, history, outbox
from wall.store.db import Base

__all__ = ["Base", "accounts", "cases"]
