"""The command hall's own settings in server.yaml: wall layouts, the shared walls with their tours, the limits of
tours and alarm pop-ups, and the reasons operators may give for rejecting a case.

They live in one module on the ground floor of ``wall/`` because three layers read them: ``wall.config`` loads
and checks them, ``wall.walls`` runs the walls they describe, ``wall.cases`` offers the reasons. Keeping them here
lets every import point down (``config``, ``walls/``, ``cases/`` → this module → ``settings``), never back up.

Layouts are data: a grid of columns × rows and the cells that tiles occupy (a 1+N layout has one big cell). The
built-ins cover what a command hall expects (domain.md §7): 1, 2×2, 3×3, 4×4, 1+5, 1+7 and 3×6 for the reference
hall's 18-screen splicing wall; a site adds its own under ``layouts:``.
"""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from settings.model import Strict

TOUR_MIN_S, TOUR_MAX_S, TOUR_DEFAULT_S = 5, 300, 30
ALARM_TIMEOUT_MIN_S, ALARM_TIMEOUT_MAX_S, ALARM_TIMEOUT_DEFAULT_S = 10, 3600, 120
WALL_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"  # used in /wall/NAME
GRID = re.compile(r"^(\d{1,2})x(\d{1,2})$")
LAYOUT_NAME = r"^[A-Za-z0-9][A-Za-z0-9+_-]{0,15}$"
MAX_TILES = 64  # a tile is a decoder in the browser; beyond this a wall is a mosaic, not a wall

# Why operators reject auto-detected cases, seeded with the hard negatives vendors had to train away (domain.md
# §2). Sites extend the list in server.yaml (``review.reject_reasons``); decisions become training labels.
DEFAULT_REJECT_REASONS: dict[str, str] = {
    "licensed_stall": "持证摊点/早餐车",
    "abandoned_stall": "已收摊/无人摊点",
    "inside_shop": "店内/橱窗商品",
    "vendor_walking": "流动经过未停留",
    "potted_plants": "盆栽绿植",
    "fixed_object": "石头/雕塑/墙体等固定物",
    "bin_not_overflowing": "垃圾桶未满溢",
    "false_detection": "误检",
    "duplicate": "重复案件",
    "other": "其他",
}
# Of those, the ones that say "there, but allowed here" or "not an event": a rejection with one of them may
# remember the place (误报抑制) so the same thing there raises nothing again (wall/cases/suppressions.py).
SUPPRESSIBLE_REASONS = ("licensed_stall", "inside_shop", "potted_plants", "fixed_object", "bin_not_overflowing",
                        "false_detection")


class Cell(Strict):
    """One tile's place on the grid: column and row of its top-left corner, and its size in grid units."""

    col: int = Field(ge=0, le=15)
    row: int = Field(ge=0, le=15)
    width: int = Field(default=1, ge=1, le=16)
    height: int = Field(default=1, ge=1, le=16)


class Layout(Strict):
    """A wall layout. Either ``grid: RxC`` (rows × columns of equal tiles) or ``columns``, ``rows`` and
    ``cells`` (for unequal splits). ``alarm_tile`` is where a new case pops up; by default the biggest tile."""

    name: str = Field(pattern=LAYOUT_NAME, description="Short name shown in the layout menu, e.g. 2x2, 1+5.")
    title: str = Field(default="", max_length=40, description="Longer label; default: the name.")
    grid: str | None = Field(default=None, description="Equal split, rows x columns, e.g. 3x6.")
    columns: int = Field(default=0, ge=0, le=16)
    rows: int = Field(default=0, ge=0, le=16)
    cells: list[Cell] = Field(default_factory=list, max_length=256, description="Tiles in order; tile 0 is the first.")
    alarm_tile: int | None = Field(default=None, ge=0, description="Tile index the alarm pop-up takes.")

    @model_validator(mode="after")
    def _shape(self) -> Layout:
        if self.grid is not None:
            match = GRID.match(self.grid)
            if match is None:
                raise ValueError(f"grid '{self.grid}' is not rows x columns like 3x6")
            if self.cells:
                raise ValueError("give either grid or cells, not both")
            self.rows, self.columns = int(match[1]), int(match[2])
            if not (1 <= self.rows <= 16 and 1 <= self.columns <= 16):
                raise ValueError("grid rows and columns must be 1..16")
            self.cells = [Cell(col=c, row=r) for r in range(self.rows) for c in range(self.columns)]
        if not self.cells:
            raise ValueError("a layout needs grid: RxC or cells")
        if self.columns < 1 or self.rows < 1:
            raise ValueError("columns and rows are needed with cells")
        if len(self.cells) > MAX_TILES:
            raise ValueError(f"{len(self.cells)} tiles; at most {MAX_TILES}")
        taken: dict[tuple[int, int], int] = {}
        for i, cell in enumerate(self.cells):
            if cell.col + cell.width > self.columns or cell.row + cell.height > self.rows:
                raise ValueError(f"cells[{i}] reaches outside the {self.columns}x{self.rows} grid")
            for c in range(cell.col, cell.col + cell.width):
                for r in range(cell.row, cell.row + cell.height):
                    if (c, r) in taken:
                        raise ValueError(f"cells[{i}] overlaps cells[{taken[(c, r)]}]")
                    taken[(c, r)] = i
        if self.alarm_tile is None:
            self.alarm_tile = max(range(len(self.cells)), key=lambda i: self.cells[i].width * self.cells[i].height)
        elif self.alarm_tile >= len(self.cells):
            raise ValueError(f"alarm_tile {self.alarm_tile} is not a tile (0..{len(self.cells) - 1})")
        self.title = self.title or self.name
        return self

    @property
    def tile_count(self) -> int:
        return len(self.cells)


def _one_plus(name: str, size: int, big: int) -> Layout:
    """One big tile of ``big``×``big`` in the top-left of a ``size``×``size`` grid, the rest single tiles."""
    cells = [Cell(col=0, row=0, width=big, height=big)]
    cells += [Cell(col=c, row=r) for r in range(size) for c in range(size) if not (c < big and r < big)]
    return Layout(name=name, columns=size, rows=size, cells=cells, alarm_tile=0)


BUILT_IN: tuple[Layout, ...] = (
    Layout(name="1", grid="1x1"),
    Layout(name="2x2", grid="2x2"),
    Layout(name="3x3", grid="3x3"),
    Layout(name="4x4", grid="4x4"),
    _one_plus("1+5", 3, 2),
    _one_plus("1+7", 4, 3),
    Layout(name="3x6", grid="3x6", title="3x6 (18)"),
)


def layout_table(extra: list[Layout]) -> dict[str, Layout]:
    """Built-ins, then the site's own (a site layout of the same name replaces the built-in)."""
    table = {layout.name: layout for layout in BUILT_IN}
    table.update({layout.name: layout for layout in extra})
    return table


# Who controls a shared wall besides the admins: a user name, ``role:operator`` or ``group:NAME`` (everyone the
# camera group NAME is granted to, directly or through their role). Read here as text because this floor imports
# nothing of wall.auth; wall.walls.rights turns it into its typed form with this same check.
USER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
GROUP_NAME = re.compile(r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]{1,64}$")
CONTROLLER_ROLES = ("admin", "operator")
MAX_CONTROLLERS = 200


ControllerKind = Literal["user", "role", "group"]


def check_controller(text: str) -> tuple[ControllerKind, str]:
    """``(kind, name)`` of a controller as written (kind user, role or group); ValueError with the reason."""
    shown = "".join(c if c.isprintable() else "?" for c in text[:70])
    if text.startswith("role:"):
        role = text.removeprefix("role:")
        if role == "viewer":
            raise ValueError("role:viewer: viewers watch walls, they never control them")
        if role not in CONTROLLER_ROLES:
            raise ValueError(f"'{shown}' is not a role that may control walls ({', '.join(CONTROLLER_ROLES)})")
        return "role", role
    if text.startswith("group:"):
        group = text.removeprefix("group:")
        if not GROUP_NAME.match(group) or group.strip() != group:
            raise ValueError(f"'{shown}' is not group:NAME (1-64 characters, no control characters)")
        return "group", group
    if not USER_NAME.match(text):
        raise ValueError(f"'{shown}' is not a user name, role:NAME or group:NAME")
    return "user", text


class TourSpec(Strict):
    cameras: list[str] = Field(default_factory=list, max_length=10000,
                               description="Cameras to step through (or group).")
    group: str | None = Field(default=None, description="A camera group whose members the tour steps through.")
    interval: int = Field(default=TOUR_DEFAULT_S, ge=TOUR_MIN_S, le=TOUR_MAX_S, description="Seconds per step.")
    order: Literal["sequential", "random"] = "sequential"


class WallSpec(Strict):
    """A shared wall seeded from server.yaml ``walls:`` (created at first start; later changes live in the
    database, so what operators set on the wall survives restarts)."""

    name: str = Field(pattern=WALL_NAME, description="Used in /wall/NAME.")
    title: str = Field(default="", max_length=60, description="Shown on the page; default: the name.")
    layout: str = Field(default="2x2", description="A built-in layout or one from layouts:.")
    cameras: list[str] = Field(default_factory=list, max_length=256, description="Initial tiles, in order.")
    alarms: bool = Field(default=True, description="New cases pop up on this wall's alarm tile.")
    alarm_tile: int | None = Field(default=None, ge=0, description="Tile for the alarm; default: the layout's.")
    alarm_timeout: int = Field(default=ALARM_TIMEOUT_DEFAULT_S, ge=ALARM_TIMEOUT_MIN_S, le=ALARM_TIMEOUT_MAX_S,
                               description="Seconds an unacknowledged alarm stays before the tile reverts.")
    tour: TourSpec | None = Field(default=None, description="A tour that runs from the first start.")
    controllers: list[str] = Field(
        default_factory=list, max_length=MAX_CONTROLLERS,
        description="Who may change the wall besides the admins (user, role:operator, group:NAME). Unlike the "
                    "rest of the wall these follow the file at every start; admins add more in the console.")

    @field_validator("controllers")
    @classmethod
    def _controllers(cls, value: list[str]) -> list[str]:
        for text in value:
            check_controller(text)
        return list(dict.fromkeys(value))


class HallSettings(Strict):
    """The hall itself. ``time_zone`` is the clock the hall's figures are cut in: the statistics' days, weeks and
    months, the days their rollup pre-adds, the dates the statistics page shows, and the midnight a calendar-day
    time limit ends at (``platform.time_limits.days: calendar``). Unset (the default, the behaviour before the
    setting): each statistics request's ``utc_offset``, which the page fills with its browser's offset; calendar
    days end at midnight UTC."""

    time_zone: str | None = Field(default=None, max_length=64, description="IANA time zone of the hall, e.g. "
                                  "Asia/Shanghai (from the bundled tzdata, offline); null: the statistics page "
                                  "cuts days in its browser's UTC offset.")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            shown = "".join(c if c.isprintable() else "?" for c in value[:64])
            raise ValueError(f"'{shown}' is not an IANA time zone such as Asia/Shanghai") from None
        return value
