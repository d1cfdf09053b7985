"""The site's detector in the admin console (admins only): which card is in service, promote, roll back.

A promotion needs an evaluation of that very card (``citywall evaluate --json``: sent with the request, or the
``evaluation.json`` that ``citywall train --evaluate`` wrote beside the card). Cards are named relative to the
configuration directory and must lie inside it: the console switches between models the site has placed there,
it cannot make the service load a file from anywhere on the machine. Every switch, and every refused one, is
audited; the running analytics take the new card from their next look, without a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from vision.card import CardError, load_card
from wall.access import audit_action, client_address, require
from wall.api.common import ADMIN_ONLY, Answers, Closed, error
from wall.api.deps import services
from wall.api.editor_routes import ProblemsOut
from wall.auth.principal import Permission, Principal
from wall.config import SiteConfig
from wall.editing.rule_try import RuleTrier
from wall.errors import DomainError, Unprocessable
from wall.learning import promotion
from wall.learning.models import Evaluation, ModelsOut, PromotionOut
from wall.services import Services

router = APIRouter(prefix="/api", tags=["models"], responses=ADMIN_ONLY)
Admin = Annotated[Principal, Depends(require(Permission.ADMINISTER))]
REFUSED: Answers = {422: {"model": ProblemsOut, "description": "the card does not load or is outside the "
                          "configuration directory, or no evaluation of it is attached: `problems` says which"},
                    409: error("no analytics.yaml, the card is in service already, nothing to roll back to")}
EVALUATION_FILE = "evaluation.json"
MAX_CANDIDATES = 50


class CandidateOut(BaseModel):
    """A card under the configuration directory's ``models/`` folder that could be promoted."""

    card: str = Field(description="relative to the configuration directory")
    name: str
    evaluation: Evaluation | None = Field(description="the evaluation.json beside it, if any")


class ModelsPage(ModelsOut):
    candidates: list[CandidateOut]


class PromoteIn(Closed):
    card: str = Field(min_length=1, max_length=512, pattern=r"^[^\x00-\x1f]+$",
                      description="the card, relative to the configuration directory")
    evaluation: Evaluation | None = Field(None, description="citywall evaluate --json of that card (default: the "
                                          "evaluation.json beside it)")


def _card(parts: Services, value: str) -> Path:
    directory = parts.site.directory.resolve()
    try:
        path = (directory / value).resolve()
        inside = path.is_relative_to(directory) and path.suffix in (".yaml", ".yml")
        exists = inside and path.is_file()
    except (OSError, ValueError):  # a name the file system refuses (too long, a NUL)
        inside = exists = False
    if not inside:
        raise Unprocessable.of([f"card: '{value}' is not a model card inside the configuration directory"])
    if not exists:
        raise Unprocessable.of([f"card: '{value}' does not exist"])
    return path


def _beside(card: Path) -> Evaluation | None:
    path = card.parent / EVALUATION_FILE
    try:
        return Evaluation.model_validate_json(path.read_text(encoding="utf-8")) if path.is_file() else None
    except ValueError:
        return None


def _candidates(parts: Services) -> list[CandidateOut]:
    directory = parts.site.directory.resolve()
    found: list[CandidateOut] = []
    for path in sorted((directory / "models").rglob("*.yaml"))[:MAX_CANDIDATES * 4]:
        if ".ultralytics" in path.parts or "runs" in path.relative_to(directory).parts or path.name == "data.yaml":
            continue
        try:
            name = load_card(path).display_name
        except (CardError, ValueError):
            continue  # not a card (a dataset.yaml, a broken file): nothing to promote
        found.append(CandidateOut(card=path.relative_to(directory).as_posix(), name=name, evaluation=_beside(path)))
        if len(found) >= MAX_CANDIDATES:
            break
    return found


def _page(parts: Services) -> ModelsPage:
    running = parts.runtime.model_in_service()
    with parts.db.session() as s:
        out = promotion.models(s, parts.site.directory, applied=False)
    current = promotion.card_file(out.current if out.current != str(promotion.DEFAULT_CARD) else "",
                                  parts.site.directory)
    applied = running is not None and running.resolve() == current.resolve()
    return ModelsPage(**out.model_copy(update={"applied": applied}).model_dump(), candidates=_candidates(parts))


def _switched(request: Request, admin: Principal, action: str,
              run: Callable[[Session], tuple[PromotionOut, SiteConfig]]) -> ModelsPage:
    parts = services(request)
    try:
        with parts.db.session() as s:
            row, _site = run(s)
    except DomainError as exc:
        audit_action(request, admin, action, "model", False, {"problems": exc.problems[:5] or [exc.message]})
        raise
    card = promotion.card_file(row.card, parts.site.directory)
    promotion.switch_running(parts.runtime, parts.registry, card)
    parts.rule_trier = RuleTrier(card, parts.cases.desk.catalogue)  # the zone editor's try uses it too
    parts.cases.desk.labels.use(card)  # the desk offers the new card's classes from the next request on
    return _page(parts)


@router.get("/models", responses={409: error("this site has no analytics.yaml")})
def get_models(admin: Admin, request: Request) -> ModelsPage:
    """The card in service, where a rollback goes, the history with each promotion's evaluation, and the cards
    under ``models/`` that could be promoted."""
    return _page(services(request))


@router.post("/models/promote", responses=REFUSED)
def promote_model(body: PromoteIn, admin: Admin, request: Request) -> ModelsPage:
    """Put ``card`` in service (analytics.yaml's ``model:``, comments kept), with its evaluation; the running
    analytics switch at their next look. The previous card is kept for rollback."""
    parts = services(request)
    try:
        card = _card(parts, body.card)
        evaluation = body.evaluation or _beside(card)
        if evaluation is None:
            raise Unprocessable.of([f"evaluation: none attached, and no {EVALUATION_FILE} beside {body.card} "
                                    "(citywall evaluate --candidate CARD --json FILE)"])
    except DomainError as exc:
        audit_action(request, admin, "model.promote", f"model:{body.card}"[:200], False, {"problems": exc.problems})
        raise
    return _switched(request, admin, "model.promote", lambda s: promotion.promote(
        s, parts.site.directory, card, evaluation, by=admin.name, address=client_address(request)))


@router.post("/models/rollback", responses=REFUSED)
def rollback_model(admin: Admin, request: Request) -> ModelsPage:
    """Go back to the card before the one in service; the running analytics switch at their next look."""
    parts = services(request)
    return _switched(request, admin, "model.rollback", lambda s: promotion.rollback(
        s, parts.site.directory, by=admin.name, address=client_address(request)))
