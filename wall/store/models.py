"""Imports every module that defines tables, so Alembic and ``Base.metadata`` see them all."""

# accounts and audit; the case loop; usual login addresses; wall state and presets; the platform link; the
# recording index; the statistics' rollup; the detector's promotions; PTZ leases
from wall.store import accounts, cases, logins, platform, promotions, ptz, recordings, stats, walls
from wall.store.db import Base

__all__ = ["Base", "accounts", "cases", "logins", "platform", "promotions", "ptz", "recordings", "stats", "walls"]
