"""The PTZ lease: one operator steers a camera at a time.

Two operators pulling one camera in two directions would leave it where neither wants it, so a camera's control
is leased: the first command of an operator takes the camera when nobody holds it, every command renews the
lease, and it lapses ``lease_seconds`` after the last one (an operator who walked away frees the camera by
themselves). While someone holds it, another operator's command is refused and says who holds it and until
when; an admin may take over (the holder's next command is then refused). Pure logic over an injected
monotonic time, so the rules are tested without waiting; ``wall.ptz.service`` keeps one book per process.
"""

from __future__ import annotations

from dataclasses import dataclass

from wall.errors import Conflict, Forbidden


@dataclass(frozen=True)
class Lease:
    camera_id: str
    holder: str
    since: float  # monotonic seconds
    until: float


class LeaseBook:
    def __init__(self) -> None:
        self._leases: dict[str, Lease] = {}

    def current(self, camera_id: str, now: float) -> Lease | None:
        """The camera's lease in force at ``now`` (a lapsed one is forgotten)."""
        lease = self._leases.get(camera_id)
        if lease is not None and lease.until <= now:
            del self._leases[camera_id]
            return None
        return lease

    def take(self, camera_id: str, user: str, now: float, seconds: float, *, take_over: bool = False,
             may_take_over: bool = False) -> tuple[Lease, Lease | None]:
        """Take or renew ``user``'s lease; with ``take_over`` (admins only) from whoever holds it. Returns the
        lease and the one it replaced when that was someone else's (a take-over); raises Conflict when another
        operator holds the camera, Forbidden for a take-over by someone who may not."""
        held = self.current(camera_id, now)
        displaced = held if held is not None and held.holder != user else None
        if displaced is not None:
            if not take_over:
                raise Conflict(f"camera '{camera_id}' is controlled by {displaced.holder} for "
                               f"{max(1, round(displaced.until - now))} s more")
            if not may_take_over:
                raise Forbidden("only an admin may take over a camera someone else controls")
        since = held.since if held is not None and displaced is None else now
        lease = Lease(camera_id, user, since, now + seconds)
        self._leases[camera_id] = lease
        return lease, displaced

    def release(self, camera_id: str, user: str, now: float) -> Lease | None:
        """End ``user``'s own lease; returns it (None when they held none, which is no error: a page lets go
        when it closes, and the lease may have lapsed already)."""
        held = self.current(camera_id, now)
        if held is None or held.holder != user:
            return None
        del self._leases[camera_id]
        return held
