"""Who may view, play back and steer which camera: camera groups, grants, and the resolution of a user's sets.

A grant gives one right (``GrantRight``: view, playback, ptz) on a camera or a group to a user or to a role. A
user holds a right on the union of the cameras granted to them, to their role, and the members of groups granted
to either, with that right; a role with ``Permission.ALL_CAMERAS`` (admin) holds every right on every camera.
Groups named in cameras.yaml (``group:``) are seeded at every start and follow the file; admins make more through
the API.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from streams.config import CAMERA_ID
from wall.auth import audit
from wall.auth.principal import PERMISSIONS, GrantRight, Permission, Role, parse_role
from wall.errors import Conflict, Invalid, NotFound
from wall.store.accounts import CameraGroup, CameraGroupMember, Grant, User
from wall.store.db import deleted

log = logging.getLogger(__name__)

USER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
GROUP_NAME_MAX = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
SYSTEM = "system"


def check_user_name(name: str) -> str:
    if not USER_NAME.match(name):
        raise Invalid(f"'{_shown(name)}' is not a user name: 1-64 of a-z, 0-9, '.', '_', '-', starting with a "
                          "letter or digit")
    return name


def check_group_name(name: str) -> str:
    stripped = name.strip()
    if not stripped or len(stripped) > GROUP_NAME_MAX or _CONTROL.search(stripped) or stripped != name:
        raise Invalid(f"'{_shown(name)}' is not a group name: 1-{GROUP_NAME_MAX} characters, no control "
                          "characters, no surrounding spaces")
    return name


def _shown(value: str) -> str:
    return _CONTROL.sub("?", value[:70])


@dataclass(frozen=True)
class Subject:
    kind: str  # user | role
    name: str

    @classmethod
    def parse(cls, text: str) -> Subject:
        if text.startswith("role:"):
            return cls("role", parse_role(text.removeprefix("role:")))
        return cls("user", check_user_name(text))

    def __str__(self) -> str:
        return f"role:{self.name}" if self.kind == "role" else self.name


@dataclass(frozen=True)
class Target:
    kind: str  # camera | group
    name: str

    @classmethod
    def parse(cls, text: str) -> Target:
        if text.startswith("group:"):
            return cls("group", check_group_name(text.removeprefix("group:")))
        if not CAMERA_ID.match(text):
            raise Invalid(f"'{_shown(text)}' is not a camera id or group:NAME")
        return cls("camera", text)

    def __str__(self) -> str:
        return f"group:{self.name}" if self.kind == "group" else self.name


# -- resolution ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraRights:
    """The configured cameras a user holds each right on, right now."""

    view: frozenset[str]
    playback: frozenset[str]
    ptz: frozenset[str]


def camera_rights(session: Session, user: User, camera_ids: Iterable[str]) -> CameraRights:
    """Every right of ``user`` on the configured cameras, from one query of their grants (a request builds its
    principal from this, so it stays one round trip however many rights there are)."""
    configured = frozenset(camera_ids)
    if Permission.ALL_CAMERAS in PERMISSIONS[Role(user.role)]:
        return CameraRights(configured, configured, configured)
    rows = session.execute(
        select(Grant.right, Grant.target_kind, Grant.target).where(or_(
            (Grant.subject_kind == "user") & (Grant.subject == user.name),
            (Grant.subject_kind == "role") & (Grant.subject == user.role),
        ))
    ).all()
    groups = {target for _, kind, target in rows if kind == "group"}
    members: dict[str, set[str]] = {}
    if groups:
        for name, camera in session.execute(select(CameraGroup.name, CameraGroupMember.camera_id)
                                            .join(CameraGroup).where(CameraGroup.name.in_(groups))):
            members.setdefault(name, set()).add(camera)
    held: dict[str, set[str]] = {right: set() for right in GrantRight}
    for right, kind, target in rows:
        held[right].update(members.get(target, set()) if kind == "group" else {target})
    return CameraRights(*(frozenset(held[right]) & configured for right in
                          (GrantRight.VIEW, GrantRight.PLAYBACK, GrantRight.PTZ)))


def visible_cameras(session: Session, user: User, camera_ids: Iterable[str]) -> frozenset[str]:
    """The configured cameras ``user`` may view right now."""
    return camera_rights(session, user, camera_ids).view


# -- groups --------------------------------------------------------------------------------------------------


def group_members(session: Session, group: CameraGroup) -> list[str]:
    return sorted(session.scalars(select(CameraGroupMember.camera_id).where(CameraGroupMember.group_id == group.id)))


def find_group(session: Session, name: str) -> CameraGroup:
    group = session.scalar(select(CameraGroup).where(CameraGroup.name == name))
    if group is None:
        raise NotFound(f"no group '{_shown(name)}'")
    return group


def _set_members(session: Session, group: CameraGroup, cameras: Iterable[str]) -> None:
    session.execute(delete(CameraGroupMember).where(CameraGroupMember.group_id == group.id))
    session.add_all(CameraGroupMember(group_id=group.id, camera_id=c) for c in sorted(set(cameras)))


def _check_cameras(cameras: Iterable[str], configured: Iterable[str]) -> list[str]:
    cameras = list(cameras)
    unknown = sorted(set(cameras) - set(configured))
    if unknown:
        raise Invalid(f"no camera {', '.join(repr(_shown(c)) for c in unknown[:10])} in cameras.yaml")
    return cameras


def seed_groups(session: Session, cameras: Iterable[tuple[str, str | None]]) -> None:
    """Make the groups named in cameras.yaml and set their members to what the file says (at every start)."""
    wanted: dict[str, set[str]] = {}
    for cam_id, group_name in cameras:
        if group_name:
            wanted.setdefault(group_name, set()).add(cam_id)
    existing = {g.name: g for g in session.scalars(select(CameraGroup).where(
        or_(CameraGroup.source == "config", CameraGroup.name.in_(wanted))))}
    for name, group in existing.items():
        members = wanted.get(name, set())
        if group.source != "config":
            log.warning("camera group '%s' made by an admin is named in cameras.yaml: the file now owns it", name)
            group.source = "config"
        if set(group_members(session, group)) != members:
            _set_members(session, group, members)
            audit.record(session, user=SYSTEM, action="group.seed", target=f"group:{name}", success=True,
                         address=None, detail={"cameras": sorted(members)})
    for name in sorted(set(wanted) - set(existing)):
        group = CameraGroup(name=name, source="config")
        session.add(group)
        session.flush()
        _set_members(session, group, wanted[name])
        audit.record(session, user=SYSTEM, action="group.seed", target=f"group:{name}", success=True, address=None,
                     detail={"cameras": sorted(wanted[name])})


def create_group(session: Session, name: str, cameras: Iterable[str], configured: Iterable[str]) -> CameraGroup:
    check_group_name(name)
    members = _check_cameras(cameras, configured)
    if session.scalar(select(CameraGroup.id).where(CameraGroup.name == name)) is not None:
        raise Conflict(f"group '{_shown(name)}' exists")
    group = CameraGroup(name=name, source="admin")
    session.add(group)
    session.flush()
    _set_members(session, group, members)
    return group


def update_group(session: Session, name: str, cameras: Iterable[str], configured: Iterable[str]) -> CameraGroup:
    group = find_group(session, name)
    if group.source == "config":
        raise Conflict(f"group '{_shown(name)}' follows cameras.yaml: change the cameras' group there")
    _set_members(session, group, _check_cameras(cameras, configured))
    return group


def rename_group(session: Session, name: str, new_name: str) -> CameraGroup:
    """Rename an admin-made group. Grants name their group, so they are renamed with it in the same unit of
    work: nobody gains or loses a camera by a rename."""
    group = find_group(session, name)
    if group.source == "config":
        raise Conflict(f"group '{_shown(name)}' follows cameras.yaml: rename it there")
    check_group_name(new_name)
    if new_name == name:
        return group
    if session.scalar(select(CameraGroup.id).where(CameraGroup.name == new_name)) is not None:
        raise Conflict(f"group '{_shown(new_name)}' exists")
    session.execute(update(Grant).where(Grant.target_kind == "group", Grant.target == name).values(target=new_name)
                    .execution_options(synchronize_session=False))
    group.name = new_name
    return group


def delete_group(session: Session, name: str) -> int:
    """Delete an admin-made group and every grant of it; returns the number of grants removed."""
    group = find_group(session, name)
    if group.source == "config":
        raise Conflict(f"group '{_shown(name)}' follows cameras.yaml: remove it there")
    removed = deleted(session, delete(Grant).where(Grant.target_kind == "group", Grant.target == name))
    session.delete(group)
    return removed


# -- grants --------------------------------------------------------------------------------------------------


def _check_subject_and_target(session: Session, subject: Subject, target: Target, configured: Iterable[str]) -> None:
    if subject.kind == "user" and session.scalar(select(User.id).where(User.name == subject.name)) is None:
        raise NotFound(f"no user '{subject.name}'")
    if target.kind == "group":
        find_group(session, target.name)
    elif target.name not in set(configured):
        raise NotFound(f"no camera '{target.name}' in cameras.yaml")


def find_grant(session: Session, subject: Subject, target: Target,
               right: GrantRight = GrantRight.VIEW) -> Grant | None:
    return session.scalar(select(Grant).where(
        Grant.subject_kind == subject.kind, Grant.subject == subject.name,
        Grant.target_kind == target.kind, Grant.target == target.name, Grant.right == right))


def parse_right(text: str) -> GrantRight:
    """A right named in a request or on the command line; anything else is :class:`Invalid`."""
    try:
        return GrantRight(text)
    except ValueError:
        raise Invalid(f"'{_shown(text)}' is not a right ({', '.join(GrantRight)})") from None


def _right_shown(right: GrantRight) -> str:
    """How a message names the right: not at all for the view right, so messages read as they always did."""
    return "" if right is GrantRight.VIEW else f" ({right.value})"


def add_grant(session: Session, subject: Subject, target: Target, configured: Iterable[str],
              by: str | None, right: GrantRight = GrantRight.VIEW) -> Grant:
    _check_subject_and_target(session, subject, target, configured)
    if find_grant(session, subject, target, right) is not None:
        raise Conflict(f"{target} is already granted to {subject}{_right_shown(right)}")
    grant = Grant(subject_kind=subject.kind, subject=subject.name, target_kind=target.kind, target=target.name,
                  right=right, created_by=by)
    session.add(grant)
    session.flush()
    return grant


def remove_grant(session: Session, grant: Grant | None, subject: Subject, target: Target,
                 right: GrantRight = GrantRight.VIEW) -> None:
    if grant is None:
        raise NotFound(f"{target} is not granted to {subject}{_right_shown(right)}")
    session.delete(grant)


def grant_out(grant: Grant) -> dict[str, object]:
    subject = Subject(grant.subject_kind, grant.subject)
    target = Target(grant.target_kind, grant.target)
    return {"id": grant.id, "subject": str(subject), "target": str(target), "right": grant.right,
            "created_at": grant.created_at, "created_by": grant.created_by}
