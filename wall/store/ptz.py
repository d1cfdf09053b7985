"""PTZ leases in the one database (migration 0017_ptz_leases): who steers which camera, until when.

In the database rather than in a process so that every control-plane replica sees the same holder: two
operators connected to two replicas must not steer one camera at once. Times are wall-clock seconds
(``time.time``), the only clock the replicas share; a lapsed row is simply ignored and overwritten by the next take.
``seconds`` is the length the lease was last renewed for: a lease never has more than that left, so a system clock
stepped back does not keep a camera leased for the size of the step (``wall.ptz.leases``).
"""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from wall.store.db import Base


class PtzLease(Base):
    __tablename__ = "ptz_leases"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    since: Mapped[float] = mapped_column(Float)
    until: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
