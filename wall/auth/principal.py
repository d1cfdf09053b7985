"""Who is asking and what their role lets them do: the ``Principal`` of a request and the one permission table.

Domain code (walls, cases) asks ``principal.may(Permission.…)``, never which role someone has, so what a role
may do is decided here and nowhere else; the pages get the same answers from ``/api/me`` (``permissions``) and
``/api/roles``. No web imports: the HTTP side that finds the principal of a request is ``wall.access``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from wall.errors import Invalid


class Role(StrEnum):
    """An account's role, as stored on the user row and named in grants (``role:operator``)."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


class Permission(StrEnum):
    """What a role may do. Camera visibility comes from grants, except for ``ALL_CAMERAS``."""

    VIEW_WALL = "view_wall"  # their own seat wall and the shared walls, read-only
    REVIEW_CASES = "review_cases"  # confirm, reject, merge and close cases (the review desk)
    CONTROL_WALLS = "control_walls"  # change shared walls: layout, tiles, tours, alarms
    READ_STATISTICS = "read_statistics"  # the statistics page and its CSV (of the cameras they may see)
    ADMINISTER = "administer"  # users, groups, grants, audit log, camera editor, outbox
    CONTROL_PTZ = "control_ptz"  # steer the PTZ cameras granted with the ``ptz`` right
    ALL_CAMERAS = "all_cameras"  # sees every camera without grants (and so holds none)


class GrantRight(StrEnum):
    """What a grant gives on its cameras. Separate rights, granted one by one: seeing a camera live does not let
    anyone look back at its recordings or steer it (least privilege per camera)."""

    VIEW = "view"  # live view, snapshots, cases and evidence of the camera
    PLAYBACK = "playback"  # its recordings: timeline, playback, export
    PTZ = "ptz"  # steer it (needs the view right too, and a role with CONTROL_PTZ)


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset({Permission.VIEW_WALL, Permission.REVIEW_CASES, Permission.CONTROL_WALLS,
                              Permission.READ_STATISTICS, Permission.CONTROL_PTZ}),
    Role.VIEWER: frozenset({Permission.VIEW_WALL}),
}


def permissions_of(role: Role) -> list[Permission]:
    """The role's permissions in the table's order (stable answers for the API)."""
    return [p for p in Permission if p in PERMISSIONS[role]]


def roles_with(permission: Permission) -> list[Role]:
    return [role for role in Role if permission in PERMISSIONS[role]]


def parse_role(text: str) -> Role:
    """A role named in a request or on the command line; anything else is :class:`Invalid`."""
    try:
        return Role(text)
    except ValueError:
        shown = "".join(c if c.isprintable() else "?" for c in text[:32])
        raise Invalid(f"'{shown}' is not a role ({', '.join(Role)})") from None


@dataclass(frozen=True)
class Principal:
    """Who is asking: the user, their role, the cameras they may view, play back and steer right now, and the
    session it came from."""

    name: str
    role: Role = Role.VIEWER
    all_cameras: bool = False
    cameras: frozenset[str] = frozenset()
    session_id: int | None = None
    address: str | None = None
    playback: frozenset[str] = frozenset()
    ptz: frozenset[str] = frozenset()

    def may(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]

    def may_view(self, camera_id: str) -> bool:
        return self.all_cameras or camera_id in self.cameras

    def may_play_back(self, camera_id: str) -> bool:
        """The camera's recordings: a right of its own (an investigator may look back at a camera the wall does
        not show them live)."""
        return self.all_cameras or camera_id in self.playback

    def may_control_ptz(self, camera_id: str) -> bool:
        """Steering needs the role's permission, the ``ptz`` grant and the live view: nobody moves a camera
        they cannot watch."""
        return self.may(Permission.CONTROL_PTZ) and (self.all_cameras or (camera_id in self.ptz
                                                                          and camera_id in self.cameras))
