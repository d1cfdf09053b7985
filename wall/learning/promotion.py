"""Promotion and rollback of the site's detector: ``model:`` in analytics.yaml, a history row, the audit log.

Why through analytics.yaml: it stays the one source of truth of what ``citywall serve`` loads, edited like the
zone editor edits it (``wall.editing``: comments kept, the edit lock across replicas and commands, the directory
loaded back as ``serve`` would and the old file put back if it would not). Why a history row beside it: the file
cannot say who switched, on the strength of which evaluation, or where a rollback goes. Promotions and rollbacks
form a stack: a promotion pushes its card, a rollback pops back to the card below.

Why an evaluation is required: a model is switched on evidence, not on hope. The evaluation must be of this very
card (``citywall evaluate --candidate`` of the same file) and its candidate must have raised at least one of the
held-out confirmed cases; the numbers are stored with the switch so the console shows why it happened.

The running service follows at once (:func:`switch_running`): the new detector takes the next look, and each
camera's analyzer is rebuilt for the new card's class families, as a rule change from the zone editor is.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ruamel.yaml.comments import CommentedMap
from sqlalchemy import select
from sqlalchemy.orm import Session

from settings.errors import ConfigError
from vision.card import DEFAULT_CARD, CardError, load_card
from vision.detector import Detector
from wall.auth import audit
from wall.config import ANALYTICS_FILE, SiteConfig, load_config
from wall.editing import roundtrip
from wall.errors import Conflict, Unprocessable
from wall.learning.models import Evaluation, ModelsOut, PromotionOut
from wall.learning.train import sha256_of
from wall.runtime.interface import CameraRuntime
from wall.runtime.registry import CameraRegistry
from wall.store.promotions import ModelPromotion

log = logging.getLogger(__name__)
DEFAULT = ""  # a history row's card when analytics.yaml names none: the bundled default


def _model_value(card: Path, directory: Path) -> str:
    """How analytics.yaml names ``card``: relative to the config directory when inside it, else absolute."""
    card = card.resolve()
    try:
        return card.relative_to(directory.resolve()).as_posix()
    except ValueError:
        return str(card)


def card_file(value: str, directory: Path) -> Path:
    """The card file a ``model:`` value (or the default marker) names."""
    if value == DEFAULT:
        return DEFAULT_CARD
    path = Path(value)
    return path if path.is_absolute() else directory / path


def current_value(directory: Path) -> str:
    """analytics.yaml's ``model:`` as written (the default marker when it names none)."""
    path = directory / ANALYTICS_FILE
    if not path.is_file():
        raise Conflict("this site has no analytics.yaml: no detector runs, so there is no model to switch")
    _yaml, doc, _text = roundtrip.load(path)
    value = doc.get("model") if isinstance(doc, CommentedMap) else None
    return str(value) if value else DEFAULT


def _write_model(directory: Path, value: str) -> SiteConfig:
    """Put ``model: value`` into analytics.yaml (removed for the default) and load the directory back."""
    path = directory / ANALYTICS_FILE
    with roundtrip.edit_lock(directory):
        yaml, doc, before = roundtrip.load(path)
        if not isinstance(doc, CommentedMap):
            raise Conflict.of([f"{ANALYTICS_FILE}: (top level): must be a mapping of keys"])
        if value == DEFAULT:
            if "model" in doc:
                roundtrip.delete_key(doc, "model")
        elif "model" in doc:
            roundtrip.replace_value(doc, "model", value)
        else:
            roundtrip.insert_key(doc, "model", value, ["model", "cameras"])
        roundtrip.write_atomic(path, roundtrip.dump(yaml, doc))
        try:
            return load_config(directory)
        except ConfigError as exc:
            roundtrip.write_atomic(path, before)
            raise Unprocessable.of(exc.problems) from None


def _stack(rows: list[ModelPromotion], now: str) -> list[str]:
    """The cards a rollback walks back through, oldest first, ending with the one in service."""
    stack: list[str] = []
    for row in rows:
        if row.action == "promote":
            if not stack:
                stack.append(row.previous_card if row.previous_card is not None else DEFAULT)
            stack.append(row.card)
        elif stack:
            stack.pop()
    if not stack or stack[-1] != now:  # analytics.yaml edited by hand since: the file is what runs
        stack.append(now)
    return stack


def _rows(session: Session) -> list[ModelPromotion]:
    return list(session.scalars(select(ModelPromotion).order_by(ModelPromotion.id)))


def check_evaluation(card: Path, evaluation: Evaluation) -> None:
    """Refuse an evaluation that is not of ``card``, or whose candidate raised none of the confirmed cases."""
    try:
        same = Path(evaluation.candidate.card).resolve() == card.resolve()
    except (OSError, ValueError):  # not even a path
        same = False
    if not same:
        raise Unprocessable.of([f"evaluation: it evaluates {evaluation.candidate.card[:200]}, not {card}"])
    found = sum(f.raised_confirmed for f in evaluation.candidate.families)
    if evaluation.held_out == 0 or found == 0:
        raise Unprocessable.of(["evaluation: the candidate raised none of the held-out confirmed cases"])


def _out(row: ModelPromotion) -> PromotionOut:
    evaluation = Evaluation.model_validate_json(row.evaluation) if row.evaluation else None
    return PromotionOut(id=row.id, at=row.at, by=row.by, action="rollback" if row.action == "rollback" else "promote",
                        card=row.card, card_name=row.card_name, onnx_sha256=row.onnx_sha256,
                        previous_card=row.previous_card, evaluation=evaluation)


def promote(session: Session, directory: Path, card: Path, evaluation: Evaluation, *, by: str,
            address: str = "local") -> tuple[PromotionOut, SiteConfig]:
    """Switch the site's model to ``card`` (file and history, audited with the change); the running service is
    told by the caller (:func:`switch_running`)."""
    try:
        detector = Detector(load_card(card))
    except CardError as exc:
        raise Unprocessable.of(exc.problems) from None
    check_evaluation(card, evaluation)
    previous = current_value(directory)
    value = _model_value(card, directory)
    if card_file(previous, directory).resolve() == card.resolve():
        raise Conflict(f"{value} is the site's model already")
    site = _write_model(directory, value)
    row = ModelPromotion(by=by, action="promote", card=value, card_name=detector.card.display_name,
                         onnx_sha256=sha256_of(detector.card.model_path), previous_card=previous,
                         evaluation=evaluation.model_dump_json())
    session.add(row)
    audit.record(session, user=by, action="model.promote", target=f"model:{value}"[:200], success=True,
                 address=address, detail={"previous": previous or "(default)", "held_out": evaluation.held_out,
                                          "sha256": row.onnx_sha256})
    session.flush()
    return _out(row), site


def rollback(session: Session, directory: Path, *, by: str, address: str = "local") -> tuple[PromotionOut, SiteConfig]:
    """Go back to the card before the one in service."""
    now = current_value(directory)
    stack = _stack(_rows(session), now)
    if len(stack) < 2:
        raise Conflict("no earlier model to roll back to")
    target = stack[-2]
    try:
        detector = Detector(load_card(card_file(target, directory)))
    except CardError as exc:
        raise Unprocessable.of(exc.problems) from None
    site = _write_model(directory, target)
    row = ModelPromotion(by=by, action="rollback", card=target, card_name=detector.card.display_name,
                         onnx_sha256=sha256_of(detector.card.model_path), previous_card=now, evaluation=None)
    session.add(row)
    audit.record(session, user=by, action="model.rollback", target=f"model:{target or '(default)'}"[:200],
                 success=True, address=address, detail={"from": now or "(default)"})
    session.flush()
    return _out(row), site


def models(session: Session, directory: Path, applied: bool) -> ModelsOut:
    now = current_value(directory)
    rows = _rows(session)
    stack = _stack(rows, now)
    name = load_card(card_file(now, directory)).display_name
    return ModelsOut(current=now or str(DEFAULT_CARD), current_name=name,
                     previous=(stack[-2] or str(DEFAULT_CARD)) if len(stack) >= 2 else None, applied=applied,
                     history=[_out(r) for r in reversed(rows)])


def switch_running(runtime: CameraRuntime, registry: CameraRegistry, card: Path) -> bool:
    """Detect with ``card`` in the running analytics from the next look on, without a restart: the registry
    tells the runtime (one box loads it now; a cluster's workers switch within seconds) and, in a cluster, the
    other control-plane replicas. False when nothing is analysed."""
    registry.put_model(card)
    return runtime.analytics_enabled
