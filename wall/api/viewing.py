"""Audit rows for opening things (a case, an evidence file, a camera's snapshot), thinned by
``wall.view_audit.ViewAudit``: one per user and thing per interval, so the wall's once-a-second snapshot
fallback leaves a row every few minutes instead of one a second (the module says why)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from wall.access import audit_action
from wall.api.deps import services
from wall.auth.principal import Principal


def audit_view(request: HTTPConnection, principal: Principal, action: str, target: str,
               detail: dict[str, Any] | None = None) -> None:
    """For a sync route (it runs in the thread pool already): audit the look if it is due."""
    if services(request).view_audit.due(principal.name, action, target):
        audit_action(request, principal, action, target, True, detail)


async def audit_view_async(request: HTTPConnection, principal: Principal, action: str, target: str,
                           detail: dict[str, Any] | None = None) -> None:
    """For an async route: the database write (only when due) off the event loop."""
    if services(request).view_audit.due(principal.name, action, target):
        await run_in_threadpool(audit_action, request, principal, action, target, True, detail)
