"""Imports every module that defines tables, so Alembic and ``Base.metadata`` see them all."""

import wall.store.accounts  # noqa: F401 - users, groups, grants, sessions, throttling, audit
import wall.store.cases  # noqa: F401 - cases, history, evidence, outbox
from wall.store.db import Base

__all__ = ["Base"]
