"""Admin API: the audit log, filtered and paged, and its CSV export (itself audited). Admins only.

Split from admin_routes so each router stays one resource; the audit rows are written by every other route
through ``wall.auth.audit``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from wall.api.admin_routes import BAD, Admin
from wall.api.common import ADMIN_ONLY
from wall.api.deps import services
from wall.auth import audit
from wall.store.accounts import utcnow

router = APIRouter(prefix="/api", tags=["admin"], responses=ADMIN_ONLY)


class AuditOut(BaseModel):
    id: int
    time: datetime
    user: str | None
    action: str
    target: str | None
    success: bool
    address: str | None
    detail: dict[str, Any] | None


class AuditPage(BaseModel):
    total: int
    items: list[AuditOut]



def _utc(value: datetime | None) -> datetime | None:
    """A query time as UTC; one without an offset is taken as UTC."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "time out of range") from None


def audit_filter(
    user: Annotated[str | None, Query(max_length=80)] = None,
    action: Annotated[str | None, Query(max_length=64, description="exact, or a prefix ending in '.' or '*'")] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[datetime | None, Query(description="from this time (ISO 8601; without offset: UTC)")] = None,
    until: Annotated[datetime | None, Query(description="before this time")] = None,
    success: Annotated[bool | None, Query(description="only successful (true) or refused (false) actions")] = None,
) -> audit.AuditFilter:
    return audit.AuditFilter(user=user, action=action, target=target, since=_utc(since), until=_utc(until),
                             success=success)


Filter = Annotated[audit.AuditFilter, Depends(audit_filter)]


@router.get("/audit", responses=BAD)
def list_audit(admin: Admin, request: Request, where: Filter,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               offset: Annotated[int, Query(ge=0, le=2**31)] = 0) -> AuditPage:
    """The audit log, newest first, filtered and paged."""
    with services(request).db.session() as s:
        total, items = audit.query(s, where, limit, offset)
    return AuditPage(total=total, items=[AuditOut(**i) for i in items])


@router.get("/audit.csv", response_class=StreamingResponse, responses={
    **BAD, 200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "UTF-8 CSV with BOM"}})
def export_audit(admin: Admin, request: Request, where: Filter) -> StreamingResponse:
    """The matching audit rows, oldest first, as CSV (for the auditors' own tools). The export is audited."""
    db = services(request).db
    with db.session() as s:
        audit.record(s, user=admin.name, action="audit.export", target="audit_log", success=True,
                     address=admin.address, detail={
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(where).items() if v is not None})

    def lines() -> Iterator[str]:
        with db.session() as s:
            yield from audit.csv_lines(s, where)

    name = f"citywall-audit-{utcnow():%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Cache-Control": "no-store"})
