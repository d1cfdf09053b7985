"""Delivery to the city's case platform: a persistent outbox, HMAC-signed JSON webhooks. Every message the
platform must hear goes through it (``outbox.kind``: a confirmed case, a video check's result, a close by
citywall; wall.platform.models.MessageKind), each with its ``message`` field saying which.

Each message has a fixed idempotency key (one per confirmation, check or close), so a retry after a crash —
even one that hit after the platform received it but before we recorded that — is recognisably the same
delivery. Failures back off exponentially (with jitter) across restarts because the schedule is in the table;
after ``max_attempts`` the message is dead-lettered with its last error for an admin to see and retry.

Several control-plane replicas (cluster mode) each run an outbox on the one PostgreSQL: a message is claimed with
``SELECT … FOR UPDATE SKIP LOCKED`` and stays locked while it is posted and its outcome written, so no two
replicas post one key at once — the others skip it and take the next due message.

A database that goes away between a post the platform accepted and the commit of "sent" (a PostgreSQL restart
under load) would have the message posted again when it is back; the outbox remembers such keys and records them
as sent without a second post.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from wall.cases.desk import CaseDesk
from wall.cases.links import EvidenceLinks
from wall.cases.models import OutboxEntry
from wall.errors import Conflict, DomainError, NotFound
from wall.store.cases import Case, Evidence, OutboxMessage
from wall.store.db import Database, unavailable
from wall.time_limits import as_utc, parse_deadline

log = logging.getLogger(__name__)
# Evidence kept for training the site's model (the clean frame the detector saw): the platform's case needs the
# pictures and clips an officer looks at, not this.
TRAINING_ONLY = frozenset({"frame"})
SIGNATURE_HEADER = "X-Citywall-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Outbox:
    def __init__(self, db: Database, desk: CaseDesk, *, url: str, secret: str, evidence_dir: Path,
                 evidence_mode: str = "url", public_base_url: str = "", max_attempts: int = 8,
                 backoff_initial: float = 5.0, backoff_max: float = 600.0, timeout: float = 10.0,
                 links: EvidenceLinks | None = None) -> None:
        self.db, self.desk = db, desk
        self.url, self.secret = url, secret
        self.evidence_dir = evidence_dir
        # evidence as signed expiring links (made when a message is sent, so a retry carries fresh ones) or inline
        self.links = links or EvidenceLinks(secret=secret, public_base_url=public_base_url, ttl=72 * 3600.0,
                                            mode=evidence_mode, evidence_dir=evidence_dir)
        self.max_attempts = max_attempts
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.client = httpx.Client(timeout=timeout)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        # keys the platform accepted whose "sent" could not be committed (the database went away mid-delivery):
        # recorded without posting again once it is back. In memory only: after a crash of citywall itself the
        # same Idempotency-Key is posted again, which the platform recognises.
        self._delivered: dict[str, Any] = {}

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(15)
        self.client.close()

    def kick(self) -> None:
        """Deliver now (a case was just confirmed) instead of waiting for the next poll."""
        self._wake.set()

    def _run(self) -> None:
        away = False  # the database unavailable at the last pass: said once, not once a second
        while not self._stop.is_set():
            try:
                self.deliver_due()
                if away:
                    log.info("outbox: database back, deliveries resume")
                away = False
            except Exception as exc:
                if not unavailable(exc):
                    log.exception("outbox pass failed")
                elif not away:
                    away = True
                    log.warning("outbox: database unavailable (%s); due messages wait", type(exc).__name__)
            self._wake.wait(1.0)
            self._wake.clear()

    def deliver_due(self) -> int:
        """Try every message that is due, once each, oldest first; returns how many were delivered."""
        delivered, tried = 0, set[int]()
        while not self._stop.is_set():
            outcome = self._deliver_next(tried)
            if outcome is None:
                break
            delivered += outcome
        return delivered

    def body(self, message: OutboxMessage, evidence: list[Evidence], deadline: datetime | None = None) -> bytes:
        """The document posted: the stored payload, its ``message`` kind, the evidence (a confirmation: the
        case's files; any other message: the files its payload names) and the idempotency key. A confirmation
        sent after its case was dispatched (a retry) carries the deadline set meanwhile."""
        payload = dict(message.payload)
        files = payload.pop("evidence_files", None)
        if message.kind == "case_confirmed":
            if deadline is not None:
                payload["deadline_at"] = as_utc(deadline).isoformat()
            items = [self.links.item(e.kind, e.name, e.sha256) | {"size": e.size} for e in evidence
                     if e.kind not in TRAINING_ONLY]
        else:
            items = [self.links.item(str(f["kind"]), str(f["name"])) for f in files or []]
        document = {"message": message.kind, **payload, "evidence": items,
                    "idempotency_key": message.idempotency_key}
        return json.dumps(document, ensure_ascii=False, sort_keys=True).encode()

    def _deliver_next(self, tried: set[int]) -> int | None:
        """Claim the oldest due message not tried in this pass, post it, write the outcome: 1 delivered, 0 not,
        None when nothing (unlocked) is due.

        Claim, post and outcome are one transaction: the row stays locked while it is posted, so another replica
        skips it (``SKIP LOCKED``). A replica that dies mid-post takes its lock with it and leaves the message
        pending: the next post carries the same Idempotency-Key. SQLite has no row locks (nothing is rendered for
        them); it serves a single process anyway."""
        posted: tuple[str, Any] | None = None  # a post the platform took, until its outcome is committed
        try:
            with self.db.session() as s:
                query = (select(OutboxMessage)
                         .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= datetime.now(UTC))
                         .order_by(OutboxMessage.id).limit(1).with_for_update(skip_locked=True))
                if tried:
                    query = query.where(OutboxMessage.id.not_in(tried))
                message = s.scalars(query).first()
                if message is None:
                    return None
                tried.add(message.id)
                key, case_id, kind = message.idempotency_key, message.case_id, message.kind
                if key in self._delivered:  # the platform has it; only the record was lost with the database
                    error, reply = None, self._delivered[key]
                else:
                    evidence, deadline = [], None
                    if kind == "case_confirmed":
                        evidence = list(s.scalars(
                            select(Evidence).where(Evidence.case_id == message.case_id).order_by(Evidence.id)))
                        deadline = s.scalar(select(Case.deadline_at).where(Case.id == message.case_id))
                    error, reply = self._post(self.body(message, evidence, deadline), key)
                    if error is None:
                        posted = (key, reply)
                message.attempts += 1
                if error is None:
                    message.status, message.sent_at = "sent", datetime.now(UTC)
                    message.reply, message.last_error = reply, None
                else:
                    message.last_error = error
                    if message.attempts >= self.max_attempts:
                        message.status = "dead"
                    else:
                        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** (message.attempts - 1))
                        delay = random.uniform(ceiling / 2, ceiling)  # jitter: failed cases don't retry in step
                        message.next_attempt_at = datetime.now(UTC) + timedelta(seconds=delay)
        except Exception:
            if posted is not None:  # delivered, but the database went before "sent" was committed: no second post
                self._delivered[posted[0]] = posted[1]
                log.warning("case %s delivered; recording it waits for the database", case_id)
            raise
        self._delivered.pop(key, None)
        if error is not None:
            log.warning("delivery of %s of case %s failed (%s)", kind, case_id, error)
            return 0
        log.info("%s of case %s delivered to the platform", kind, case_id)
        if case_id is not None and kind == "case_confirmed" and isinstance(reply, dict) \
                and (reply.get("dispatched") or reply.get("department")):
            try:
                self.desk.dispatched(case_id, "platform", department=reply.get("department"),
                                     ref=str(reply.get("ref") or reply.get("id") or "") or None,
                                     deadline=parse_deadline(reply.get("deadline")))
            except DomainError as exc:
                log.info("platform reply for case %s not applied: %s", case_id, exc)
        return 1

    def _post(self, body: bytes, key: str) -> tuple[str | None, Any]:
        """POST one message: (None, the platform's reply) or (the error, None)."""
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key,
                   SIGNATURE_HEADER: sign(self.secret, body)}
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{exc.__class__.__name__}: {exc}", None
        if not 200 <= response.status_code < 300:
            return f"HTTP {response.status_code}: {response.text[:300]}", None
        try:
            return None, response.json() if response.content else {}
        except ValueError:
            return None, {"text": response.text[:500]}

    def retry(self, message_id: int) -> None:
        """An admin's retry of a dead letter: back to pending, attempts reset."""
        with self.db.session() as s:
            message = s.get(OutboxMessage, message_id)
            if message is None:
                raise NotFound("outbox message not found")
            if message.status != "dead":
                raise Conflict(f"message is {message.status}; only dead letters are retried")
            message.status, message.attempts, message.next_attempt_at = "pending", 0, datetime.now(UTC)
        self.kick()

    def list(self, status: str | None = None) -> list[OutboxEntry]:
        with self.db.session() as s:
            query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
            if status:
                query = query.where(OutboxMessage.status == status)
            return [OutboxEntry.model_validate(m) for m in s.scalars(query.limit(500))]
