"""What tours step through, read from the database: a camera group's members and what a tour's starter may see.

The wall service calls this *before* it takes the wall lock, for every tour it starts and every step that is
due: a tour over a group follows the group, and a starter who loses a grant stops seeing the camera, from the
next cycle on. The pure transitions then find the answer by :class:`TourSource`. Nothing here changes anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from wall.auth import grants
from wall.store.accounts import CameraGroup, User
from wall.walls.state import SYSTEM, TourSource


def group_cameras(session: Session, name: str, cameras: Sequence[str]) -> list[str]:
    """The members of group ``name`` that exist; none for a group that does not."""
    group = session.scalar(select(CameraGroup).where(CameraGroup.name == name))
    if group is None:
        return []
    known = frozenset(cameras)
    return [c for c in grants.group_members(session, group) if c in known]


def resolve(session: Session, sources: Iterable[TourSource], cameras: Sequence[str]) -> dict[TourSource, list[str]]:
    """Each source's cameras now: its list or its group's members, once each, that exist and that its starter
    may still see (a tour nobody started, or whose starter is not a user row, is not filtered)."""
    out: dict[TourSource, list[str]] = {}
    known = frozenset(cameras)
    for source in set(sources):
        listed = list(source.cameras) if source.cameras else group_cameras(session, source.group or "", cameras)
        found = [c for c in dict.fromkeys(listed) if c in known]
        starter = None
        if source.started_by != SYSTEM:
            starter = session.scalar(select(User).where(User.name == source.started_by))
        if starter is not None:
            allowed = grants.visible_cameras(session, starter, cameras)
            found = [c for c in found if c in allowed]
        out[source] = found
    return out
