"""What the city's case platform receives for a case: built from the row, the catalogue and the time limits.

Out of the desk so that the desk keeps to its transactions; the outbox stores this with each message.
"""

from __future__ import annotations

from vision.catalogue import Catalogue
from wall.cases.models import SOURCE_LABELS, PlatformCamera, PlatformRecord
from wall.store.cases import Case
from wall.time_limits import TimeLimits


def platform_record(case: Case, catalogue: Catalogue, time_limits: TimeLimits) -> PlatformRecord:
    entry = catalogue.get(case.code)
    return PlatformRecord(
        id=f"citywall-{case.id}", source=SOURCE_LABELS.get(case.source, case.source), major_code=case.code[:2],
        minor_code=case.code[2:],
        code=case.code, code_name=case.code_name, major_name=entry.major if entry else "",
        catalogue_version=case.catalogue_version, grid_code=case.grid_code, street=case.street,
        community=case.community, address=case.address, lon=case.lon, lat=case.lat,
        camera=PlatformCamera(id=case.camera_id, name=case.camera_name, national_id=case.national_id),
        description=case.description, discovered_at=case.first_seen, confirmed_at=case.decided_at,
        confirmed_by=case.decided_by, note=case.note, status=case.status,
        time_limit_s=time_limits.seconds(case.code), deadline_at=case.deadline_at)
