"""``GET /healthz``: liveness for load balancers and Docker — no session needed, nothing secret in it.

It answers 200 while the process serves, also when a part is failing: a full or read-only evidence disk makes
the status ``degraded`` with ``evidence.state = failing`` (cases are still raised, without their files), and so
do event changes waiting for a restarting database (``cases_waiting``); a container is not restarted for a disk
or a database a restart of citywall cannot mend, yet monitoring sees it. It reads no table: it answers while the
database is down."""

from __future__ import annotations

import time
from collections import Counter

from fastapi import APIRouter
from pydantic import BaseModel, Field

from vision.evidence import EvidenceHealth
from wall.api.deps import Parts

router = APIRouter()


class HealthOut(BaseModel):
    status: str = Field(description="ok, or degraded while a part (the evidence store) is failing")
    cameras: int = Field(description="Running cameras (enabled in cameras.yaml).")
    states: dict[str, int] = Field(description="How many cameras are in each state (live, stalled, …).")
    uptime_s: int
    evidence: EvidenceHealth | None = Field(description="The evidence directory's writes (None without analytics).")
    cases_waiting: int = Field(description="Event changes waiting for the database to become cases (a database "
                                           "restart); 0 normally.")


@router.get("/healthz")
async def healthz(parts: Parts) -> HealthOut:
    """The process serves and knows its cameras."""
    statuses = await parts.runtime.statuses()
    evidence = parts.runtime.evidence_health()
    waiting = parts.cases.backlog.waiting
    failing = waiting > 0 or (evidence is not None and evidence.state == "failing")
    return HealthOut(status="degraded" if failing else "ok", cameras=len(statuses),
                     states=dict(Counter(s.health.state for s in statuses)),
                     uptime_s=round(time.time() - parts.started), evidence=evidence, cases_waiting=waiting)
