"""The event-code catalogue (CJ/T 214 lineage) as data: cities differ, so codes and names come from a file whose
version is stored with every case."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from settings.loading import load_model_file
from settings.model import Strict
from settings.packaged import packaged

if TYPE_CHECKING:
    from vision.rules_config import CameraRules

DEFAULT_CATALOGUE = packaged("vision", "event_codes.yaml")  # a site may put its own in its config folder


class EventCode(Strict):
    name: str
    name_en: str = ""
    major: str = ""
    family: str | Annotated[list[str], Field(max_length=10)] | None = None

    def families(self) -> list[str]:
        if self.family is None:
            return []
        return [self.family] if isinstance(self.family, str) else list(self.family)


class Catalogue(Strict):
    version: str = Field(min_length=1)
    codes: dict[str, EventCode] = Field(max_length=10000)  # the national catalogue has a few hundred

    def get(self, code: str) -> EventCode | None:
        return self.codes.get(code)

    def check(self, code: str, family: str) -> str | None:
        """Why ``code`` cannot be raised by rule ``family``, or None when it can."""
        entry = self.codes.get(code)
        if entry is None:
            return f"code '{code}' is not in catalogue {self.version}"
        if family not in entry.families():
            return f"code '{code}' ({entry.name}) is not a {family} code in catalogue {self.version}"
        return None

    def zone_problems(self, rules: CameraRules) -> list[str]:
        """``zones[i].code: reason`` for each of a camera's zones whose code this catalogue does not allow: the
        one check behind the site loader, the zone editor and ``citywall replay``."""
        problems = []
        for i, zone in enumerate(rules.zones):
            assert zone.code is not None  # the zone's model fills in its family's default code
            why = self.check(zone.code, zone.family)
            if why:
                problems.append(f"zones[{i}].code: {why}")
        return problems


def load_catalogue(path: Path = DEFAULT_CATALOGUE) -> Catalogue:
    """Read and check a catalogue file; raises ``ConfigError`` naming the file and key of every problem."""
    return load_model_file(path, Catalogue)
