"""False-alarm memory (误报抑制) API: the suppressions operators make when they reject a case with "don't raise
here again". Admins list them, lift them and change (or end) their expiry; operators read which reasons may
remember a place. Made by ``POST /api/cases/{id}/reject`` with ``remember``; matched by the case desk.

Times are judged by the service clock (the desk's), like overdue: a suppression past ``expires_at`` is
``expired`` and matches nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from wall.access import client_address, current_principal
from wall.api.admin_routes import Admin
from wall.api.common import ADMIN_ONLY, Answers, Closed, error
from wall.api.deps import services
from wall.auth.principal import Principal
from wall.cases.models import SuppressionOut
from wall.cases.suppressions import State, SuppressionBook

router = APIRouter(prefix="/api", tags=["suppressions"])
SuppressionId = Annotated[int, PathParam(ge=1, le=2**53)]
MISSING: Answers = {404: error("no such suppression"), 409: error("it was lifted already")}


class SuppressionOptions(BaseModel):
    reasons: list[str] = Field(description="Reject reasons that may remember the place (allowed here, not an event).")
    days: float | None = Field(description="How long a new suppression lasts; null: until an admin lifts it.")


class ExpiryIn(Closed):
    expires_at: datetime | None = Field(description="The new end; a time already past expires it now; null: until "
                                        "lifted. A time without an offset is taken as UTC.")


def book_of(request: Request) -> SuppressionBook:
    return services(request).cases.suppressions


Book = Annotated[SuppressionBook, Depends(book_of)]


def _now(request: Request) -> datetime:
    return services(request).cases.desk.clock()


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


@router.get("/suppressions/options")
def options(principal: Annotated[Principal, Depends(current_principal)], book: Book) -> SuppressionOptions:
    """What the desk's reject form offers: the reasons with a "don't raise here again" choice, and its lifetime."""
    return SuppressionOptions(reasons=book.reasons, days=book.days)


@router.get("/suppressions", responses=ADMIN_ONLY)
def list_suppressions(principal: Admin, book: Book, request: Request,
                      state: Annotated[State, Query(description="active, lifted, expired or all")] = "active",
                      camera: Annotated[str | None, Query(max_length=64)] = None) -> list[SuppressionOut]:
    """The site's suppressions, newest first, with the candidates each has kept from raising (``hits``)."""
    return book.list(state, _now(request), camera)


@router.post("/suppressions/{suppression_id}/lift", responses={**ADMIN_ONLY, **MISSING})
def lift(suppression_id: SuppressionId, principal: Admin, book: Book, request: Request) -> SuppressionOut:
    """Lift it: the place raises cases again from the next candidate. Audited (``suppression.lift``)."""
    return book.lift(suppression_id, principal.name, principal.address or client_address(request), _now(request))


@router.put("/suppressions/{suppression_id}/expiry", responses={**ADMIN_ONLY, **MISSING})
def set_expiry(suppression_id: SuppressionId, body: ExpiryIn, principal: Admin, book: Book,
               request: Request) -> SuppressionOut:
    """Set when it ends (in the past: expired now). Audited (``suppression.expiry``) with the old and new end."""
    return book.set_expiry(suppression_id, _utc(body.expires_at), principal.name,
                           principal.address or client_address(request), _now(request))
