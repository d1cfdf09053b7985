"""Who may change which wall: the policy, pure (no database, no clock, no web), so it is tested on its own and
the service asks it before every change (issue 16, finding 3: any operator used to change every shared wall).

- A seat (``@me``) is its owner's alone.
- A shared wall is changed by the admins and by its **controllers**: users, ``role:operator``, and
  ``group:NAME`` — everyone the camera group NAME is granted to, directly or through their role (the hall's
  district teams are the holders of their district's cameras). Controllers come from server.yaml
  (``walls: - controllers:``) and from the admins (console, ``PUT /api/walls/{name}/controllers``).
- A controller needs a role that controls walls at all (``Permission.CONTROL_WALLS``): a viewer account named as
  a controller still only watches.
- Everyone else watches: no layout, tile, tour, alarm acknowledgement, push or preset. A tile showing a camera
  the user cannot see is changed only by a controller, and the refusal says so.

Who holds a group is looked up by the caller (``WallRights.holders``, read before the wall lock); a group whose
holders were not looked up counts as held by nobody, so a controller added meanwhile never lets anyone in early.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from wall.auth.principal import Permission, Principal
from wall.errors import Invalid
from wall.hall_settings import ControllerKind, check_controller


@dataclass(frozen=True, order=True)
class Controller:
    kind: ControllerKind
    name: str

    @classmethod
    def parse(cls, text: str) -> Controller:
        """A controller as written (``alice``, ``role:operator``, ``group:north``); :class:`Invalid` otherwise."""
        try:
            kind, name = check_controller(text)
        except ValueError as e:
            raise Invalid(str(e)) from None
        return cls(kind, name)

    def __str__(self) -> str:
        return self.name if self.kind == "user" else f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class WallRights:
    """What the policy needs to know of one wall: its owner (a seat), its controllers and, for each controller
    group, who holds it (``alice`` / ``role:operator``, as grants name their subjects)."""

    owner: str | None = None
    controllers: frozenset[Controller] = frozenset()
    holders: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def groups(self) -> list[str]:
        return sorted(c.name for c in self.controllers if c.kind == "group")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def controls(rights: WallRights, principal: Principal) -> bool:
    if rights.owner is not None:
        return principal.name == rights.owner
    if not principal.may(Permission.CONTROL_WALLS):
        return False
    if principal.may(Permission.ADMINISTER):
        return True
    subjects = {principal.name, f"role:{principal.role}"}
    for c in rights.controllers:
        if (c.kind == "user" and c.name == principal.name) or (c.kind == "role" and c.name == principal.role):
            return True
        if c.kind == "group" and subjects & rights.holders.get(c.name, frozenset()):
            return True
    return False


def decide(rights: WallRights, principal: Principal, shown: Iterable[str | None] = ()) -> Decision:
    """May ``principal`` change the wall (touching the tiles that show ``shown``)? The reason is fit to show."""
    if controls(rights, principal):
        return Decision(True)
    if not principal.may(Permission.CONTROL_WALLS):
        return Decision(False, "you may watch this wall but not change it")
    if any(camera is not None and not principal.may_view(camera) for camera in shown):
        return Decision(False, "this tile shows a camera you may not see: only the wall's controllers change it")
    return Decision(False, "only the wall's controllers change it, save, recall or delete its presets")


def parse_all(texts: Iterable[str]) -> frozenset[Controller]:
    return frozenset(Controller.parse(text) for text in texts)
