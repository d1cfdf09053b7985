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


class PtzReturn(Base):
    """A camera off its analysis preset, by whichever replica commanded it last (migration 0019): ``due`` is when
    citywall sends it back (wall clock: every command renews it), ``seconds`` the idle time it was renewed for (a
    clock stepped back cuts a ``due`` further off than that). The replica that claims a due row (``FOR UPDATE SKIP
    LOCKED``, deleted as it is claimed) is the one that sends the camera back: once, wherever it was steered."""

    __tablename__ = "ptz_returns"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    due: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
