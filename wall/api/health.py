"""``GET /healthz``: liveness for load balancers and Docker — no session needed, nothing secret in it."""

from __future__ import annotations

import time
from collections import Counter

from fastapi import APIRouter
from pydantic import BaseModel, Field

from wall.api.deps import Parts

router = APIRouter()


class HealthOut(BaseModel):
    status: str
    cameras: int = Field(description="Running cameras (enabled in cameras.yaml).")
    states: dict[str, int] = Field(description="How many cameras are in each state (live, stalled, …).")
    uptime_s: int


@router.get("/healthz")
async def healthz(parts: Parts) -> HealthOut:
    """The process serves and knows its cameras."""
    statuses = await parts.runtime.statuses()
    return HealthOut(status="ok", cameras=len(statuses), states=dict(Counter(s.health.state for s in statuses)),
                     uptime_s=round(time.time() - parts.started))
